"""One flow file, many languages: each language's texts picked from the file's data.

A flow declares the languages it speaks (``languages: [en, zh]``, the first is the
default; ``language: en`` alone is one language). Any text of the flow (the keys
in ``schema.LOCALIZED_KEYS``, and the synonyms of an enum value) may then be a
mapping of language to text::

    say: {en: "Hi!", zh: "您好！"}
    keywords: {en: [track, where is my order], zh: [查订单, 物流]}

A plain string or list is the text of every language. ``localize`` turns the
plain data of a file (before the pydantic models see it) into the data of one
language, and its ``SourceMap`` into one where each picked text sits where the
mapping was, so every later message (a validation error, a template error of the
compiler) still points at the right line and column of the right language. A
text missing in a language is a ``missing_text`` warning, and the default
language's text is used (if it has none either, the text is left out, so a
built-in reply speaks). Pure: data in, data out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dialogue.authoring.yaml_source import SourceMap, dotted
from dialogue.errors import Diagnostic, Loc, did_you_mean
from dialogue.schema import LANGUAGE_RE, LOCALIZED_KEYS

LITERAL_KEYS = frozenset({"set", "with"})
"""Mappings of slot name to value: never texts, never looked into."""

_ABSENT = object()
"""A text with neither this language's nor the default language's version."""

NAMED: frozenset[Loc] = frozenset({("states",), ("slots",), ("intents",), ("events",)})
"""Mappings keyed by the designer's names (with each state's ``on``): a state named
``ask`` or an event named ``say`` is not a text."""


@dataclass(frozen=True)
class Localized:
    """One language's data of a flow file, with its positions."""

    language: str
    data: Any
    source: SourceMap
    warnings: tuple[Diagnostic, ...]
    """Texts missing in this language (``missing_text``)."""
    errors: tuple[Diagnostic, ...]
    """Mappings naming a language the flow does not declare (``unknown_language``)."""


def declared(data: Any) -> tuple[str, ...]:
    """The languages a file's data declares, the default first (as written: the
    models check them): ``languages``, else ``language``, else English."""
    if isinstance(data, dict):
        listed = data.get("languages")
        if isinstance(listed, list) and listed and all(isinstance(x, str) for x in listed):
            return tuple(dict.fromkeys(listed))
        single = data.get("language")
        if isinstance(single, str):
            return (single,)
    return ("en",)


def localize(data: Any, source: SourceMap, language: str) -> Localized:
    """The data of ``language`` (one of ``declared(data)``) and its source map."""
    walk = _Walk(declared(data), language, source)
    out = walk.node(data, ())
    if isinstance(out, dict) and isinstance(data, dict) and "languages" in data:
        single = data.get("language")
        if isinstance(single, str) and single not in walk.languages:
            listed = ", ".join(walk.languages)
            walk.errors.append(
                source.diagnostic(
                    ("language",),
                    "invalid",
                    f"'language' ({single}) is not one of 'languages' ({listed})",
                    "give 'languages' alone: the first is the default",
                )
            )
        out["language"] = language
    return Localized(
        language, out, _moved(source, walk.picked), tuple(walk.warnings), tuple(walk.errors)
    )


class _Walk:
    def __init__(self, languages: tuple[str, ...], language: str, source: SourceMap) -> None:
        self.languages, self.language, self.source = languages, language, source
        self.picked: dict[Loc, str] = {}
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []

    def node(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, list):
            return [self.node(item, loc + (i,)) for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        synonyms = len(loc) == 3 and loc[0] == "slots" and loc[2] == "values"
        names = loc in NAMED or (len(loc) == 3 and loc[0] == "states" and loc[2] == "on")
        for key, item in value.items():
            here = loc + (key,)
            if key in LITERAL_KEYS and not names:
                out[key] = item
                continue
            if isinstance(item, dict) and (synonyms or (key in LOCALIZED_KEYS and not names)):
                if self.per_language(item, here):
                    item = self.pick(item, here)
                    if item is _ABSENT:
                        continue  # as if not written: the field's default (a built-in reply)
            out[key] = self.node(item, here)
        return out

    def per_language(self, mapping: dict[Any, Any], loc: Loc) -> bool:
        """Whether a mapping at a text's place is a text per language; a mapping of
        language-like keys none of which the flow declares is an error."""
        keys = [k for k in mapping if isinstance(k, str)]
        if len(keys) != len(mapping) or not keys:
            return False
        if any(k in self.languages for k in keys):
            return True
        if loc[-1] == "no_match" or not all(re.match(LANGUAGE_RE, k) for k in keys):
            return False  # a state's no_match {say, max, goto}, or not a text at all
        self.unknown(keys, loc)
        return True

    def unknown(self, keys: list[str], loc: Loc) -> None:
        listed = ", ".join(self.languages)
        for key in keys:
            if self.language != self.languages[0]:
                return  # reported once, with the default language's data
            hint = did_you_mean(key, list(self.languages)) or (
                f"declare it in 'languages' (now: {listed})"
            )
            message = f"'{key}' in {dotted(loc)} is not one of the flow's languages ({listed})"
            self.errors.append(
                self.source.diagnostic(loc + (key,), "unknown_language", message, hint, at_key=True)
            )

    def pick(self, mapping: dict[str, Any], loc: Loc) -> Any:
        for key in mapping:
            if key not in self.languages:
                self.unknown([key], loc)
        chosen = self.language
        if chosen not in mapping:
            chosen = self.languages[0] if self.languages[0] in mapping else ""
            instead = f"the '{chosen}' text is used instead" if chosen else "it is left out"
            message = f"{dotted(loc)} has no text in '{self.language}': {instead}"
            hint = f"add {self.language}: ... beside {', '.join(k for k in mapping)}"
            self.warnings.append(
                self.source.diagnostic(
                    loc, "missing_text", message, hint, severity="warning", at_key=True
                )
            )
        if not chosen:
            return _ABSENT
        self.picked[loc] = chosen
        return mapping[chosen]


def _moved(source: SourceMap, picked: Mapping[Loc, str]) -> SourceMap:
    """``source`` with each picked text's positions also under the place of its mapping."""
    if not picked:
        return source

    def move(table: Mapping[Loc, Any]) -> Mapping[Loc, Any]:
        out = dict(table)
        for loc, value in table.items():
            for end in range(len(loc)):
                if picked.get(loc[:end]) == loc[end]:
                    out[loc[:end] + loc[end + 1 :]] = value
                    break
        return MappingProxyType(out)

    return SourceMap(source.path, move(source.values), move(source.keys), move(source.written))
