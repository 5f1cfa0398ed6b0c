"""One flow, many languages: per-language texts in the file, one compiled bot per language."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel

from dialogue import schema
from dialogue.authoring.loader import parse_flow
from dialogue.compiler.build import compile_flows
from dialogue.errors import FlowErrors

FLOW = """\
flow: shop
languages: [en, zh, fr]
start: menu
slots:
  reason:
    type: enum
    values:
      damaged: {en: [broken], zh: [坏了], fr: [cassé]}
      late: [late]
    ask: {en: Why?, zh: 为什么？, fr: Pourquoi ?}
intents:
  back:
    keywords: {en: [return], zh: [退货], fr: [retour]}
states:
  menu:
    say: {en: Hello!, zh: 您好！, fr: Bonjour !}
    on: {back: returning}
  returning:
    collect: [reason]
    say: "OK: {{ reason }}"
    final: true
"""


def _texts_fields(model: type[BaseModel]) -> set[str]:
    """The keys of every field (of the flow's models) typed `Texts` or `LocalText`."""
    markers = [typing.get_args(t)[1] for t in (schema.Texts, schema.LocalText)]
    found: set[str] = set()
    seen: set[type] = set()

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            if any(m is marker for m in _metadata(info) for marker in markers):
                found.add(info.alias or name)
            for inner in _models_in(info.annotation):
                visit(inner)

    visit(model)
    return found


def _metadata(info: Any) -> list[Any]:
    found = list(info.metadata)
    stack = [info.annotation]
    while stack:
        annotation = stack.pop()
        found += getattr(annotation, "__metadata__", ())
        stack += typing.get_args(annotation)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def test_every_text_field_may_be_given_per_language() -> None:
    texts = _texts_fields(schema.Flow)
    assert {"say", "ask", "invalid", "keywords", "examples", "no_match", "prompt"} <= texts
    assert {"am_or_pm", "failure_reply", "label", "text"} <= texts  # quick replies, LLM policy
    # names or patterns: ``clear``, ``collect``, ``correct`` (slots), ``imports``,
    # ``patterns``, ``redact``, ``slots`` (of a host event)
    names = {"clear", "collect", "correct", "imports", "patterns", "redact", "slots"}
    assert texts - schema.LOCALIZED_KEYS <= names


def test_each_language_gets_its_texts() -> None:
    loaded = parse_flow(FLOW, path="f.yaml")
    assert loaded.languages == ("en", "zh", "fr")
    assert set(loaded.variants) == {"zh", "fr"}
    zh = loaded.in_language("zh").flow
    assert zh.language == "zh"
    assert zh.states["menu"].say == ("您好！",)
    assert zh.intents["back"].keywords == ("退货",)
    reason = zh.slots["reason"]
    assert isinstance(reason, schema.EnumSlot)
    assert reason.values == {"damaged": ("坏了",), "late": ("late",)}
    assert zh.states["returning"].say == ("OK: {{ reason }}",)  # one text for every language
    assert loaded.flow.states["menu"].say == ("Hello!",)
    assert loaded.in_language("de") is loaded


def test_a_single_language_flow_loads_as_before() -> None:
    loaded = parse_flow("flow: o\nlanguage: fr\nstart: m\nstates: {m: {say: Salut}}\n")
    assert (loaded.languages, loaded.variants) == (("fr",), {})


def test_a_state_named_like_a_text_key_is_a_state() -> None:
    text = "flow: o\nlanguages: [en, zh]\nstart: ask\nstates:\n  ask: {say: Hi, final: true}\n"
    assert parse_flow(text).in_language("zh").flow.states["ask"].say == ("Hi",)


def test_errors_point_at_the_language_s_text() -> None:
    text = FLOW.replace("zh: 您好！", "zh: '{{ nope }}'")
    with pytest.raises(FlowErrors) as info:
        compile_flows([parse_flow(text, path="f.yaml")])
    [problem] = info.value.diagnostics
    assert (problem.line, problem.col, problem.code) == (16, 27, "unknown_name")


def test_a_validation_error_in_one_language_is_reported_once_at_its_place() -> None:
    text = FLOW.replace("fr: [retour]", "fr: ['  ']")
    with pytest.raises(FlowErrors) as info:
        parse_flow(text, path="f.yaml")
    [problem] = info.value.diagnostics
    assert str(problem).startswith("f.yaml:13:40: intent 'back': keywords include a blank one")


def test_a_missing_text_is_a_warning_with_its_place_and_the_default_speaks() -> None:
    text = FLOW.replace(", fr: Pourquoi ?}", "}")
    bot = compile_flows([parse_flow(text, path="f.yaml")])
    [warning] = [w for w in bot.warnings if w.code == "missing_text"]
    assert str(warning) == (
        "f.yaml:10:5: warning: slots.reason.ask has no text in 'fr': "
        "the 'en' text is used instead\n"
        "    hint: add fr: ... beside en, zh"
    )
    assert warning.severity == "warning"
    fr = bot.in_language("fr")
    assert fr.flows["shop"].slots["reason"].ask[0].source == "Why?"


def test_bots_per_language_reach_each_other() -> None:
    bot = compile_flows([parse_flow(FLOW)])
    assert bot.languages == ("en", "zh", "fr")
    zh = bot.in_language("zh")
    assert zh.language == "zh" and zh.languages == bot.languages
    assert zh.in_language("fr").in_language("en") is bot
    assert bot.in_language(None) is bot and bot.in_language("de") is bot
    fr = bot.in_language("fr").flows["shop"]
    assert [t.source for t in fr.states["menu"].no_match.say] == [
        "Désolé, je n'ai pas compris.",
        "Désolé, je ne comprends toujours pas. Pouvez-vous le dire autrement ?",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("languages: [en, en]", "'languages' names a language twice"),
        ("languages: [en, Chinese]", "'Chinese' is not a language code"),
    ],
)
def test_bad_language_lists(line: str, message: str) -> None:
    text = FLOW.replace("languages: [en, zh, fr]", line)
    with pytest.raises(FlowErrors) as info:
        parse_flow(text, path="f.yaml")
    assert message in str(info.value)


def test_language_must_be_one_of_languages() -> None:
    text = FLOW.replace("languages: [en, zh, fr]", "languages: [en, zh]\nlanguage: fr")
    with pytest.raises(FlowErrors) as info:
        parse_flow(text, path="f.yaml")
    assert str(info.value.diagnostics[0]).startswith(
        "f.yaml:3:11: 'language' (fr) is not one of 'languages' (en, zh)"
    )


def test_the_languages_example_of_the_guide_runs_as_it_says() -> None:
    from pathlib import Path

    from dialogue import Engine

    guide = Path(__file__).resolve().parent.parent / "docs" / "flow-format.md"
    section = guide.read_text(encoding="utf-8").split("## Languages\n", 1)[1]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    bot = compile_flows([parse_flow(text, path="guide.yaml")])
    assert bot.warnings == ()
    with Engine(bot) as engine:
        first = engine.handle("s", "投诉")  # detected: the greeting is in Chinese too
        assert first.replies == ["您好！请问有什么可以帮您？", "出了什么问题？"]
        assert engine.handle("s", "坏了").replies == ["OK: damaged.", "您好！请问有什么可以帮您？"]
        assert engine.handle("t", "chinese please").replies == [
            "Hi! How can I help?",
            "好的，我们说中文。",
        ]


def test_prompt_and_knowledge_files_per_language(tmp_path: Any) -> None:
    from dialogue.authoring.loader import load_flow

    (tmp_path / "f.yaml").write_text(
        "flow: f\nlanguages: [en, zh]\nstart: m\n"
        "fallback:\n  knowledge: {en: faq.md, zh: faq_zh.md}\n"
        "states:\n  m: {say: Hi, on: {}}\n",
        encoding="utf-8",
    )
    (tmp_path / "faq.md").write_text("Open 9-5.", encoding="utf-8")
    (tmp_path / "faq_zh.md").write_text("九点到五点。", encoding="utf-8")
    bot = compile_flows([load_flow(tmp_path / "f.yaml")])
    knowledge = {
        lang: bot.in_language(lang).flows["f"].states["m"].fallback.knowledge  # type: ignore[union-attr]
        for lang in bot.languages
    }
    assert knowledge == {"en": "Open 9-5.", "zh": "九点到五点。"}
    (tmp_path / "faq_zh.md").unlink()
    with pytest.raises(FlowErrors) as info:
        load_flow(tmp_path / "f.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'f.yaml'}:5:31: knowledge file 'faq_zh.md'")
