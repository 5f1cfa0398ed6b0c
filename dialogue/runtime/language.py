"""The session's language: set by the host, or detected in a message.

``detect`` says which of a flow's languages a message is written in: a small,
honest guess.

Scripts first: kana means Japanese, Han characters alone Chinese (Japanese when
the flow speaks Japanese and not Chinese), Hangul Korean, Cyrillic Russian,
Arabic, Hebrew, Greek, Thai. Latin-script text is scored by common words
(articles, pronouns, greetings, "thanks") and a few letters only one of the
languages uses (``ñ ¿ ¡``, ``ß``, ``ç œ``); a language wins only with more cues
than every other. A short or ambiguous message ("ok", "AB123456", "no") gives
``None``: the conversation stays in the language it has. Only the languages a
flow declares are ever returned. No dependency, no model, microseconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from dialogue.errors import ConfigurationError
from dialogue.runtime.compiled import Bot
from dialogue.session import Session
from dialogue.trace import Trace

_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")),
    ("zh", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")),
    ("ko", re.compile(r"[\u1100-\u11ff\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
)

_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and is are was you your my i me it this that what where when how why "
        "with for of to have has do does can could would please thanks thank hello hi hey "
        "yes want need order not don't i'm it's there here about from",
        "es": "el la los las un una y es son está estoy que qué de del en por para con mi "
        "mis tu su yo quiero puedo gracias hola buenos buenas dónde donde cuándo cómo "
        "pedido sí también muy pero",
        "fr": "le la les un une et est sont je j'ai tu vous mon ma mes votre que qui quoi "
        "de des du au aux en pour avec ne pas oui bonjour bonsoir merci où quand comment "
        "commande c'est il elle suis veux",
        "de": "der die das ein eine und ist sind ich du sie mein meine ihr wo wann wie was "
        "mit für von zu nicht ja nein danke hallo guten bitte bestellung möchte habe kann "
        "auf ist's",
        "it": "il lo la gli le un una e è sono io tu mio mia che di del per con non sì "
        "ciao grazie buongiorno dove quando come ordine voglio",
        "pt": "o a os as um uma e é são eu você meu minha que de do da em para com não sim "
        "olá obrigado obrigada bom dia onde quando como pedido quero",
        "nl": "de het een en is zijn ik jij je mijn wat waar wanneer hoe met voor van niet "
        "ja nee dank bedankt hallo goedemorgen bestelling wil",
    }.items()
}

_LETTERS: dict[str, str] = {"es": "ñ¿¡", "de": "ßäöü", "fr": "çœêèëîïûùâ", "pt": "ãõ"}

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def detect(text: str, languages: Sequence[str]) -> str | None:
    """The one of ``languages`` ``text`` is written in, or None when unsure."""
    if len(languages) < 2:
        return None
    base = {lang.split("-")[0]: lang for lang in reversed(languages)}
    text = unicodedata.normalize("NFKC", text)
    by_script = _script(text, base)
    if by_script is not None:
        return by_script
    folded = text.casefold()
    scores = dict.fromkeys(base, 0)
    words = _WORD.findall(folded)
    for lang in scores:
        vocabulary = _WORDS.get(lang, frozenset())
        scores[lang] = sum(w in vocabulary for w in words)
        scores[lang] += sum(c in _LETTERS.get(lang, "") for c in folded)
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    best, score = ranked[0]
    if score == 0 or (len(ranked) > 1 and ranked[1][1] == score):
        return None
    return base[best]


def _script(text: str, base: dict[str, str]) -> str | None:
    """A language by its script, when the text has letters of a non-Latin one the
    flow speaks; Han characters alone are Chinese (or Japanese, if only that)."""
    found = [lang for lang, pattern in _SCRIPTS if pattern.search(text)]
    if "ja" in found and "ja" in base:
        return base["ja"]
    for lang in found:
        if lang in base:
            return base[lang]
        if lang == "zh" and "ja" in base:
            return base["ja"]
    return None


def spoken(bot: Bot, language: str) -> str:
    """The code of ``bot``'s language the host named (``zh`` for ``zh-CN`` when the
    bot speaks ``zh``); `ConfigurationError` for a language it does not speak."""
    if language in bot.languages:
        return language
    base = language.split("-")[0]
    if base in bot.languages:
        return base
    raise ConfigurationError(
        f"language {language!r} is not one the flow speaks",
        hint=f"the flow speaks {', '.join(bot.languages)} (its 'languages')",
    )


def set_language(
    bot: Bot, session: Session, trace: Trace, host: str | None, text: str | None
) -> None:
    """Set the session's language before a turn: the host's (``handle(language=)``),
    else, while the session has none and the flow asks for it
    (``settings.detect_language``), the one detected in the message."""
    how: Literal["host", "detected"] = "host"
    if host is None:
        if session.language is not None or not text:
            return
        if not bot.flows[bot.main].settings.detect_language:
            return
        host, how = detect(text, bot.languages), "detected"
    if host is None or host == session.language:
        return
    session.language = host
    trace.raw_events.append(("LanguageSet", session.flow, session.state, host, how))
