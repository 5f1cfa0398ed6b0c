"""Built-in replies, per language, used where a flow does not give its own.

Every key is given in English; another language lacking a key (one added since)
falls back to the English text. A designer overrides each in the flow, per
language (``settings.too_long_reply: {en: ..., zh: ...}``, ``fallback.no_match``,
``settings.invalid_reply``, ``settings.action_error_reply``, ``settings.budget_reply``).
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
    },
    "zh": {
        "no_match": ("抱歉，我没听懂。", "抱歉，我还是没明白，能换个说法吗？"),
        "invalid": ("抱歉，这个回答好像不对。",),
        "too_long": ("消息太长了，请说得简短一些。",),
        "action_error": ("抱歉，我们这边出了点问题。",),
        "ended": ("本次对话已结束。",),
        "budget": ("抱歉，本次对话无法再回答更多开放式问题。",),
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
    },
}
"""Replies by language code, then key: at least English, Chinese, Spanish, French,
German and Japanese."""


def builtin(language: str, key: str) -> tuple[str, ...]:
    """The built-in reply ``key`` in ``language`` (its base language for ``zh-TW``,
    ``pt-BR``...), else in English."""
    found = BUILTIN.get(language) or BUILTIN.get(language.split("-")[0]) or {}
    return found.get(key) or BUILTIN["en"][key]
