"""A bot in every language its main flow speaks: one compile per language.

``authoring/localize.py`` gave each `LoadedFlow` one variant per language (the
same states, slots and intents; each language's texts); here each language's
flows are compiled by the ordinary compiler, so a text in any language is
checked as strictly as the default's (a template error in a Chinese reply fails
the load). Every language's `Bot` reaches the others through ``Bot.translations``
(a user may switch language mid-conversation); the default one's warnings gather
every language's, once each, with the texts missing in a language (``missing_text``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from types import MappingProxyType

from dialogue.authoring.loader import LoadedFlow
from dialogue.errors import Diagnostic, FlowErrors
from dialogue.runtime.compiled import Bot


def with_translations(
    bot: Bot, loaded: Sequence[LoadedFlow], compile_one: Callable[[list[LoadedFlow]], Bot]
) -> Bot:
    """``bot`` (the default language) with the flows compiled in the main flow's other
    languages; raises `FlowErrors` with every language's errors, once each."""
    main = next(lf for lf in loaded if lf.flow.flow == bot.main)
    extra: dict[str, list[Diagnostic]] = {lf.flow.flow: list(lf.notes) for lf in loaded}
    translations: dict[str, Bot] = {}
    errors: list[Diagnostic] = []
    for language in main.languages[1:]:
        for lf in loaded:
            if language not in lf.languages:
                extra[lf.flow.flow].append(_not_spoken(lf, language, bot.main))
        try:
            translations[language] = compile_one([lf.in_language(language) for lf in loaded])
        except FlowErrors as exc:
            errors += exc.diagnostics
    if errors:
        raise FlowErrors(sorted(dict.fromkeys(errors), key=lambda d: (d.path, d.line, d.col)))
    for other in translations.values():
        for name, flow in other.flows.items():
            extra[name] += flow.warnings
    flows = {
        name: replace(flow, warnings=tuple(dict.fromkeys((*flow.warnings, *extra[name]))))
        for name, flow in bot.flows.items()
    }
    if not translations:
        return replace(bot, flows=MappingProxyType(flows))
    family: dict[str, Bot] = {}  # each bot reaches every language: a user may switch
    shared = MappingProxyType(family)
    family[main.flow.language] = Bot(MappingProxyType(flows), bot.main, shared)
    for language, other in translations.items():
        family[language] = replace(other, translations=shared)
    return family[main.flow.language]


def _not_spoken(lf: LoadedFlow, language: str, main: str) -> Diagnostic:
    where = ("languages",) if lf.flow.languages else ("language",)
    return lf.source.diagnostic(
        where,
        "missing_language",
        f"flow '{lf.flow.flow}' does not speak '{language}', which flow '{main}' "
        f"speaks: its '{lf.flow.language}' texts are used",
        f"add {language} to its 'languages'",
        severity="warning",
    )
