"""The session's language: set by the host, detected, switched by the user, kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dialogue import Engine, Session
from dialogue.authoring.loader import parse_flow
from dialogue.compiler.build import compile_flows
from dialogue.errors import ConfigurationError
from dialogue.events import LanguageSet
from dialogue.runtime.builtin_replies import BUILTIN, builtin
from dialogue.runtime.language import detect
from dialogue.stores.sqlite import SQLiteStore

FLOW = """\
flow: shop
languages: [en, zh, es]
start: menu
settings:
  detect_language: {detect}
  too_long_reply: {{zh: 太长了！}}
  max_text_length: 40
intents:
  hello:
    keywords: {{en: [hello], zh: [你好], es: [hola]}}
  espanol:
    scope: global
    keywords: [español, spanish]
    language: es
    say: {{en: unused, es: "Vale, hablemos en español."}}
states:
  menu:
    say: {{en: Hi!, zh: 您好！, es: ¡Hola!}}
    on:
      hello:
        say: {{en: Hello again., zh: 又见面了。, es: Hola de nuevo.}}
"""


def engine(*, detect: bool = False, **options: object) -> Engine:
    text = FLOW.format(detect="true" if detect else "false")
    return Engine(compile_flows([parse_flow(text)]), **options)  # type: ignore[arg-type]


def languages_set(result: object) -> list[tuple[str, str]]:
    events = result.trace.events  # type: ignore[attr-defined]
    return [(e.language, e.how) for e in events if isinstance(e, LanguageSet)]


def test_the_default_language_speaks_until_the_host_sets_another() -> None:
    with engine() as bot:
        assert bot.languages == ("en", "zh", "es")
        first = bot.start("s")
        assert (first.replies, first.language) == (["Hi!"], "en")
        zh = bot.handle("s", "你好", language="zh")
        assert (zh.replies, zh.language, languages_set(zh)) == (
            ["又见面了。"],
            "zh",
            [("zh", "host")],
        )
        kept = bot.handle("s", "你好", message_id="m1")
        assert (kept.replies, languages_set(kept)) == (["又见面了。"], [])
        assert bot.handle("s", "你好", message_id="m1").language == "zh"  # a redelivery
        assert bot.start("s").language == "zh"  # a status
        stored = bot.session("s")
        assert stored is not None and stored.language == "zh"


def test_start_in_a_language_and_a_regional_code_names_its_base() -> None:
    with engine() as bot:
        assert bot.start("s", language="es-MX").replies == ["¡Hola!"]
        stored = bot.session("s")
        assert stored is not None and stored.language == "es"


def test_start_on_a_running_session_sets_its_language_for_the_next_replies() -> None:
    with engine() as bot:
        bot.start("s")
        status = bot.start("s", language="zh")
        assert (status.replies, status.trace.rule, status.language) == ([], "status", "zh")
        assert bot.handle("s", "你好").replies == ["又见面了。"]


def test_a_language_the_flow_does_not_speak_is_refused() -> None:
    with engine() as bot, pytest.raises(ConfigurationError) as info:
        bot.handle("s", "bonjour", language="fr")
    assert str(info.value).splitlines()[0] == "language 'fr' is not one the flow speaks"
    assert info.value.hint == "the flow speaks en, zh, es (its 'languages')"
    with engine() as bot:
        assert bot.session("s") is None


def test_the_first_message_s_language_is_detected_when_the_flow_allows_it() -> None:
    with engine(detect=True) as bot:
        assert bot.handle("a", "你好").replies == ["您好！", "又见面了。"]
        assert languages_set(bot.handle("b", "hola")) == [("es", "detected")]
        assert bot.handle("c", "hello").language == "en"
    with engine() as bot:  # not allowed: the default
        assert bot.handle("d", "你好").replies == ["Hi!"]


def test_detection_stops_once_a_language_is_known() -> None:
    with engine(detect=True) as bot:
        unsure = bot.handle("s", "ok")
        assert (unsure.language, languages_set(unsure)) == ("en", [])
        assert bot.handle("s", "你好").language == "zh"
        later = bot.handle("s", "hello")  # an English word does not switch it back
        assert (later.language, later.replies) == ("zh", ["抱歉，我没听懂。"])


def test_the_user_switches_language_with_a_global_intent() -> None:
    with engine() as bot:
        bot.start("s")
        switched = bot.handle("s", "en español por favor")
        assert switched.replies == ["Vale, hablemos en español."]
        assert (switched.language, languages_set(switched)) == ("es", [("es", "intent")])
        assert bot.handle("s", "hola").replies == ["Hola de nuevo."]


def test_built_in_replies_speak_the_session_s_language_and_designers_override_them() -> None:
    with engine() as bot:
        bot.start("s", language="es")
        assert bot.handle("s", "qué").replies == ["Perdón, no te he entendido."]
        too_long = bot.handle("s", "x" * 41)
        assert too_long.replies == [BUILTIN["es"]["too_long"][0]]
        bot.start("t", language="zh")
        assert bot.handle("t", "x" * 41).replies == ["太长了！"]  # the designer's
        assert bot.handle("u", "x" * 41, language="zh").replies == ["太长了！"]


def test_the_async_face_takes_the_language_too() -> None:
    async def talk() -> list[str]:
        with engine() as bot:
            await bot.astart("s", language="zh")
            return (await bot.ahandle("s", "hello", language="en")).replies

    assert asyncio.run(talk()) == ["Hello again."]


def test_the_language_is_stored_and_old_sessions_load(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        with engine(store=store) as bot:
            bot.start("s", language="zh")
        with engine(store=store) as bot:
            assert bot.handle("s", "你好").replies == ["又见面了。"]
    finally:
        store.close()
    data = Session("old", "shop", "menu").to_dict()
    del data["language"]  # saved before sessions had a language
    assert Session.from_dict(data).language is None
    assert Session.from_dict({**data, "language": "zh"}).copy().language == "zh"


@pytest.mark.parametrize("language", ["en", "zh", "es", "fr", "de", "ja"])
def test_every_built_in_reply_ships_in_six_languages(language: str) -> None:
    assert set(BUILTIN[language]) == set(BUILTIN["en"])
    if language != "en":
        assert all(BUILTIN[language][k] != BUILTIN["en"][k] for k in BUILTIN["en"])


def test_a_built_in_reply_missing_in_a_language_is_said_in_english() -> None:
    assert builtin("ko", "invalid") == BUILTIN["en"]["invalid"]
    assert builtin("zh-TW", "invalid") == BUILTIN["zh"]["invalid"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我想查一下我的订单", "zh"),
        ("注文はどこですか", "ja"),
        ("注文", "zh"),  # Han alone: Chinese when the flow speaks it
        ("where is my order please", "en"),
        ("¿dónde está mi pedido?", "es"),
        ("bonjour, où est ma commande ?", "fr"),
        ("wo ist meine Bestellung", "de"),
        ("AB123456", None),
        ("ok", None),
        ("no", None),  # English and Spanish alike
        ("", None),
    ],
)
def test_detect(text: str, expected: str | None) -> None:
    assert detect(text, ["en", "zh", "ja", "es", "fr", "de"]) == expected


def test_detect_returns_only_the_flow_s_languages() -> None:
    assert detect("注文", ["en", "ja"]) == "ja"
    assert detect("bonjour, où est ma commande ?", ["en", "zh"]) is None
    assert detect("你好", ["en"]) is None
    assert detect("你好", ["en", "zh-TW"]) == "zh-TW"


def test_a_conversation_test_names_its_language_and_expects_the_reply_s(tmp_path: Path) -> None:
    from dialogue.errors import ConversationFailure, FlowErrors
    from dialogue.testing.runner import Runner
    from dialogue.testing.spec import load_spec

    (tmp_path / "shop.yaml").write_text(FLOW.format(detect="false"), encoding="utf-8")
    spec = tmp_path / "test_shop.yaml"
    spec.write_text(
        "flow: shop.yaml\nlanguage: zh\nconversations:\n"
        "  - name: zh\n    steps:\n      - {bot: 您好！, language: zh}\n"
        "  - name: es\n    language: es\n    steps:\n      - {user: hola, bot: Hola de nuevo.}\n"
        "  - name: wrong\n    steps:\n      - {bot: 您好！, language: en}\n"
        "  - name: unknown\n    language: fr\n    steps:\n      - bot: Bonjour\n",
        encoding="utf-8",
    )
    loaded, runner = load_spec(spec), Runner()
    runner.run(loaded, 0)
    runner.run(loaded, 1)
    with pytest.raises(ConversationFailure) as failed:
        runner.run(loaded, 2)
    assert "language" in str(failed.value)
    with pytest.raises(FlowErrors) as unknown:
        runner.run(loaded, 3)
    assert "unknown language 'fr'" in str(unknown.value)


YES_NO_FLOW = """\
flow: order
languages: [en, zh, es, fr, de, ja]
start: asking
slots:
  sure:
    type: boolean
    ask: {en: Sure?, zh: 确定吗？, es: ¿Seguro?, fr: Sûr ?, de: Sicher?, ja: 確かですか？}
    options: auto
states:
  asking:
    collect: [sure]
    options:
      - {label: {en: Start, zh: 开始, fr: Commencer}, text: {en: go, fr: allez}}
    next: done
  done:
    final: true
"""


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        ("en", ["Yes", "No"]),
        ("zh", ["是", "否"]),
        ("es", ["Sí", "No"]),
        ("fr", ["Oui", "Non"]),
        ("de", ["Ja", "Nein"]),
        ("ja", ["はい", "いいえ"]),
    ],
)
def test_yes_no_quick_replies_in_each_language_fill_the_slot(
    language: str, labels: list[str]
) -> None:
    bot = Engine(compile_flows([parse_flow(YES_NO_FLOW)]))
    asked = bot.start("s", language=language)
    assert [o.label for o in asked.options] == labels
    yes, no = asked.options
    assert bot.handle("s", yes.text).slots["sure"] is True
    bot.start("t", language=language)
    assert bot.handle("t", no.text).slots["sure"] is False


def test_an_options_label_and_text_are_given_per_language() -> None:
    loaded = parse_flow(YES_NO_FLOW, path="f.yaml")
    [fr] = loaded.in_language("fr").flow.states["asking"].options
    assert (fr.label, fr.text) == ("Commencer", "allez")
    [zh] = loaded.in_language("zh").flow.states["asking"].options
    assert (zh.label, zh.text) == ("开始", "go")  # no zh text: the default language's
    [es] = loaded.in_language("es").flow.states["asking"].options
    assert (es.label, es.text) == ("Start", "go")


def test_a_conversation_handed_off_and_resumed_keeps_its_language() -> None:
    shop = Path(__file__).parent.parent / "flows" / "customer_service.yaml"
    with Engine.from_path(shop, llm=None) as bot:
        bot.start("s", language="zh")
        handed = bot.handle("s", "转人工")
        assert (handed.replies, handed.handoff is not None) == (
            ["正在为您转接人工客服，请稍候。"],
            True,
        )
        assert bot.handle("s", "还在吗").language == "zh"  # held for the person, still zh
        bot.resume("s")
        again = bot.handle("s", "你好")
        assert again.language == "zh"
        assert (
            again.replies[0]
            == "您好！我是网店小助手，可以帮您查询订单、办理退货，或者转接人工客服。"
        )
        shipped = bot.event("s", "parcel_shipped", data={"shipped_order": "ab123456"})
        assert shipped.replies[0] == "好消息：您的订单 AB123456 已经发货了。"
