"""Built-in replies, per language, used where a flow does not give its own.

Every key is given in English; another language lacking a key (one added since)
falls back to the English text. A designer overrides each in the flow, per
language (``settings.too_long_reply: {en: ..., zh: ...}``, ``fallback.no_match``,
``settings.invalid_reply``, ``settings.action_error_reply``, ``settings.budget_reply``,
``fallback.failure_reply``, a time slot's ``am_or_pm``).

``llm_trouble`` is said when the LLM call fails (``fallback.failure_reply``): an
apology for our side, never "I didn't understand you".
"""

from __future__ import annotations

BUILTIN: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "no_match": (
            "Sorry, I didn't get that.",
            "Sorry, I still didn't understand. Could you say it another way?",
        ),
        "invalid": ("Sorry, that doesn't look right.",),
        "too_long": ("That message is too long for me. Could you say it in fewer words?",),
        "action_error": ("Sorry, something went wrong on our side.",),
        "ended": ("This conversation has ended.",),
        "budget": ("Sorry, I can't answer more open questions in this chat.",),
        "am_or_pm": ("In the morning or in the evening? Please say it with am or pm, like 7pm.",),
        "llm_trouble": (
            "Sorry, something went wrong on my side and I couldn't read that. "
            "Please try again in a moment.",
            "Sorry, I'm still having trouble on my side. Please try again in a little while.",
        ),
    },
    "zh": {
        "no_match": ("抱歉，我没听懂。", "抱歉，我还是没明白，能换个说法吗？"),
        "invalid": ("抱歉，这个回答好像不对。",),
        "too_long": ("消息太长了，请说得简短一些。",),
        "action_error": ("抱歉，我们这边出了点问题。",),
        "ended": ("本次对话已结束。",),
        "budget": ("抱歉，本次对话无法再回答更多开放式问题。",),
        "am_or_pm": ("是上午还是晚上？请说清楚，比如“晚上7点”。",),
        "llm_trouble": (
            "抱歉，我这边出了点问题，没能处理这条消息，请稍后再试。",
            "抱歉，我这边的问题还没有解决，请过一会儿再试。",
        ),
    },
    "es": {
        "no_match": (
            "Perdón, no te he entendido.",
            "Perdón, sigo sin entenderte. ¿Puedes decirlo de otra manera?",
        ),
        "invalid": ("Perdón, eso no parece correcto.",),
        "too_long": ("Ese mensaje es demasiado largo. ¿Puedes decirlo con menos palabras?",),
        "action_error": ("Perdón, algo ha fallado por nuestra parte.",),
        "ended": ("Esta conversación ha terminado.",),
        "budget": ("Perdón, no puedo responder más preguntas abiertas en este chat.",),
        "am_or_pm": ("¿Por la mañana o por la tarde? Dilo más claro, por ejemplo 7pm o 19:00.",),
        "llm_trouble": (
            "Perdón, algo ha fallado por mi parte y no he podido leer eso. "
            "Inténtalo de nuevo en un momento.",
            "Perdón, sigo teniendo problemas por mi parte. Inténtalo de nuevo dentro de un rato.",
        ),
    },
    "fr": {
        "no_match": (
            "Désolé, je n'ai pas compris.",
            "Désolé, je ne comprends toujours pas. Pouvez-vous le dire autrement ?",
        ),
        "invalid": ("Désolé, cela ne semble pas correct.",),
        "too_long": ("Ce message est trop long. Pouvez-vous le dire en moins de mots ?",),
        "action_error": ("Désolé, un problème est survenu de notre côté.",),
        "ended": ("Cette conversation est terminée.",),
        "budget": ("Désolé, je ne peux plus répondre à des questions ouvertes dans ce chat.",),
        "am_or_pm": ("Le matin ou le soir ? Précisez, par exemple 7pm ou 19:00.",),
        "llm_trouble": (
            "Désolé, un problème est survenu de mon côté et je n'ai pas pu lire ce message. "
            "Réessayez dans un instant.",
            "Désolé, j'ai toujours un problème de mon côté. Réessayez un peu plus tard.",
        ),
    },
    "de": {
        "no_match": (
            "Entschuldigung, das habe ich nicht verstanden.",
            "Entschuldigung, ich verstehe es immer noch nicht. Können Sie es anders sagen?",
        ),
        "invalid": ("Entschuldigung, das scheint nicht zu stimmen.",),
        "too_long": ("Diese Nachricht ist zu lang. Können Sie es kürzer sagen?",),
        "action_error": ("Entschuldigung, bei uns ist etwas schiefgelaufen.",),
        "ended": ("Dieses Gespräch ist beendet.",),
        "budget": (
            "Entschuldigung, in diesem Chat kann ich keine offenen Fragen mehr beantworten.",
        ),
        "am_or_pm": ("Morgens oder abends? Bitte sagen Sie es genauer, etwa 7pm oder 19:00.",),
        "llm_trouble": (
            "Entschuldigung, bei mir ist etwas schiefgelaufen, und ich konnte das nicht lesen. "
            "Bitte versuchen Sie es gleich noch einmal.",
            "Entschuldigung, ich habe immer noch ein Problem. "
            "Bitte versuchen Sie es in einer Weile noch einmal.",
        ),
    },
    "ja": {
        "no_match": (
            "すみません、よくわかりませんでした。",
            "すみません、まだわかりません。別の言い方をしていただけますか？",
        ),
        "invalid": ("すみません、正しくないようです。",),
        "too_long": ("メッセージが長すぎます。もう少し短くしていただけますか？",),
        "action_error": ("申し訳ありません、こちらで問題が発生しました。",),
        "ended": ("この会話は終了しました。",),
        "budget": ("申し訳ありません、このチャットではこれ以上自由な質問にお答えできません。",),
        "am_or_pm": ("午前ですか、午後ですか？「7pm」や「19:00」のようにお書きください。",),
        "llm_trouble": (
            "申し訳ありません、こちらで問題が発生し、メッセージを読み取れませんでした。"
            "少し後でもう一度お試しください。",
            "申し訳ありません、まだこちらの問題が解決していません。しばらくしてからもう一度お試しください。",
        ),
    },
}
"""Replies by language code, then key: at least English, Chinese, Spanish, French,
German and Japanese."""


def builtin(language: str, key: str) -> tuple[str, ...]:
    """The built-in reply ``key`` in ``language`` (its base language for ``zh-TW``,
    ``pt-BR``...), else in English."""
    found = BUILTIN.get(language) or BUILTIN.get(language.split("-")[0]) or {}
    return found.get(key) or BUILTIN["en"][key]
