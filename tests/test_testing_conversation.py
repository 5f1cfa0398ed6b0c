"""The Python API: Conversation, its expectations and reports, stubs, the scripted LLM."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from dialogue import Engine, compile_flows, parse_flow
from dialogue.errors import ConfigurationError
from dialogue.runtime.builtin_replies import builtin
from dialogue.testing import Conversation, ConversationFailure, FakeLLM, FakeReply
from dialogue.trace import TurnResult

PIZZA = """\
flow: pizza
start: menu
slots:
  name: {type: text}  # only a test seeds it
  size:
    type: enum
    values: [small, large]
    ask: "Small or large?"
    invalid: "Please say small or large."
  day:
    type: date
    ask: "Which day?"
intents:
  order: {keywords: [pizza, order]}
  later: {keywords: [later]}
  bye: {keywords: [bye]}
states:
  menu:
    say: "Hi{% if name %} {{ name }}{% endif %}! Want a pizza?"
    on: {order: ordering, later: planning, bye: done}
  ordering:
    collect: [size]
    call: {action: place_order, with: {size: size}, into: ticket, on_error: sorry}
    next:
      - say: "A {{ size }} pizza, ticket {{ ticket }}."
        goto: menu
  planning:
    collect: [day]
    next:
      - say: "See you on {{ day }}."
        goto: done
  sorry: {say: "The oven is broken.", final: true}
  done: {say: "Bye!", final: true}
fallback:
  no_match: ["Sorry?"]
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "pizza.yaml"
    path.write_text(PIZZA)
    return path


def conversation(flow: Path, **options: Any) -> Conversation:
    options.setdefault("actions", {"place_order": {"returns": "T1"}})
    return Conversation.from_path(flow, **options)


def test_say_and_expect(flow: Path) -> None:
    with conversation(flow) as conv:
        conv.start().expect(bot="Hi! Want a pizza?", state="menu", rule="start")
        conv.say("a pizza").expect(bot="Small or large?", intent="order", state="ordering")
        turn = conv.say("large")
        turn.expect(
            bot=["A large pizza, ticket T1.", "Hi! Want a pizza?"],
            bot_contains=["large", "T1"],
            bot_matches=r"ticket T\d",
            slots={"size": "large", "ticket": "T1"},
            slots_set=["size"],
            slots_unset="day",
            calls=["place_order"],
            state="pizza.menu",
            flow="pizza",
            llm_called=False,
            ended=False,
        )
        assert turn.replies == ["A large pizza, ticket T1.", "Hi! Want a pizza?"]
        assert [e.user for e in conv.transcript] == [None, "a pizza", "large"]


def test_the_first_message_can_greet_as_engine_handle_does(flow: Path) -> None:
    with conversation(flow, greeting="with_first_message", slots={"name": "Ann"}) as conv:
        first = conv.say("a pizza")
        first.expect(bot=["Hi Ann! Want a pizza?", "Small or large?"], intent="order")
        assert first.label == "turn 1"
        with pytest.raises(ConfigurationError, match="no greeting turn"):
            conv.start()
        with pytest.raises(ConversationFailure) as caught:
            conv.say("large").expect(bot="A large pizza, ticket T1.")
    assert str(caught.value).startswith(
        "conversation failed at turn 2\n\n  user> a pizza\n   bot> Hi Ann! Want a pizza?\n"
    )
    with conversation(flow) as conv:  # separately: the greeting is a turn of its own
        conv.say("a pizza").expect(bot="Small or large?")


def test_the_first_message_is_not_an_answer_to_the_greeting(tmp_path: Path) -> None:
    """A host's first message goes to a new session: the greeting's question is asked
    in the same turn, so the message cannot be its answer; a separate greeting step
    hides that."""
    path = tmp_path / "ask.yaml"
    path.write_text(
        "flow: ask\nstart: asking\nslots:\n  size: {type: enum, values: [small, large], "
        "ask: Small or large?}\nstates:\n  asking:\n    collect: [size]\n    next:\n"
        "      - {say: '{{ size }} it is.', goto: done}\n  done: {final: true}\n"
    )
    with Conversation.from_path(path) as conv:
        conv.say("something else").expect(rule="invalid", bot_contains="Small or large?")
    with Conversation.from_path(path, greeting="with_first_message") as conv:
        conv.say("something else").expect(rule="start", bot="Small or large?")


def test_bot_contains_is_case_sensitive_and_bot_contains_ci_is_not(flow: Path) -> None:
    with conversation(flow) as conv:
        turn = conv.start()
        turn.expect(bot_contains="Want a pizza", bot_contains_ci=["WANT A PIZZA", "hi!"])
        with pytest.raises(ConversationFailure) as caught:
            turn.expect(bot_contains="want a pizza")
        assert 'expected: a reply containing "want a pizza"' in str(caught.value)
        with pytest.raises(ConversationFailure) as caught:
            turn.expect(bot_contains_ci="pasta")
        assert 'expected: a reply containing "pasta" (any case)' in str(caught.value)


def test_an_unknown_greeting_mode_is_refused(flow: Path) -> None:
    with pytest.raises(ConfigurationError, match="greeting='first'"):
        conversation(flow, greeting="first")


def test_a_failure_reports_the_transcript_and_expected_vs_actual(flow: Path) -> None:
    with conversation(flow) as conv:
        conv.say("a pizza")
        with pytest.raises(ConversationFailure) as caught:
            conv.say("small").expect(bot_one_of=["One small pizza.", "Small it is."], ended=True)
    assert str(caught.value) == (
        "conversation failed at turn 2\n"
        "\n"
        "   bot> Hi! Want a pizza?\n"
        "  user> a pizza\n"
        "   bot> Small or large?\n"
        "  user> small\n"
        "   bot> A small pizza, ticket T1.\n"
        "   bot> Hi! Want a pizza?\n"
        "        [slot] ordering -> menu | size='small', ticket='T1'\n"
        "\n"
        "bot_one_of\n"
        "    expected: one of:\n"
        '              "One small pizza."\n'
        '              "Small it is."\n'
        '    actual:   "A small pizza, ticket T1."\n'
        '              "Hi! Want a pizza?"\n'
        "ended\n"
        "    expected: true\n"
        "    actual:   false"
    )
    assert isinstance(caught.value, AssertionError)


def test_intent_rule_and_llm_mismatches_say_what_answered(flow: Path) -> None:
    with conversation(flow) as conv, pytest.raises(ConversationFailure) as caught:
        conv.say("what?").expect(intent="order", rule="intent", llm_outcome="reply")
    assert [(m.expected, m.actual) for _, m in caught.value.failures] == [
        ('"order"', 'no intent, rule "no_match"'),
        ('"intent"', 'no intent, rule "no_match"'),
        ('"reply"', 'LLM outcome "offline"'),
    ]


def test_expect_rejects_unknown_expectations(flow: Path) -> None:
    with conversation(flow) as conv:
        with pytest.raises(TypeError, match=r"expect\(stat=...\): Extra inputs"):
            conv.say("hi").expect(stat="menu")


def test_stubs_return_then_fail_in_order(flow: Path) -> None:
    stubs = {"place_order": [{"returns": "T7"}, {"raises": "no gas"}]}
    with conversation(flow, actions=stubs) as conv:
        conv.say("pizza")
        conv.say("small").expect(bot_contains="ticket T7")
        turn = conv.say("another pizza")  # the size is known: the order goes straight out
        turn.expect(bot_contains="The oven is broken.", state="sorry", ended=True)
        assert turn.result.trace.actions[0].error == (
            "action 'place_order': raised StubError: no gas"
        )


def test_a_callable_replaces_an_action(flow: Path) -> None:
    seen: list[str] = []

    def place_order(size: str) -> str:
        seen.append(size)
        return "T9"

    with conversation(flow, actions={"place_order": place_order}) as conv:
        conv.say("pizza")
        conv.say("small").expect(slots={"ticket": "T9"})
    assert seen == ["small"]


def test_initial_slots_and_meta(flow: Path) -> None:
    with conversation(flow, slots={"name": "Ann"}, meta={"channel": "web"}) as conv:
        conv.start().expect(bot="Hi Ann! Want a pizza?")
        session = conv.engine.session(conv.session_id)
        assert session is not None and session.meta == {"channel": "web"}


def test_a_fixed_date(flow: Path) -> None:
    with conversation(flow) as conv:
        conv.say("later")
        conv.say("tomorrow").expect(bot="See you on 2026-06-02.\nBye!".split("\n"))
    with conversation(flow, today=datetime.date(2026, 11, 24)) as conv:
        conv.say("later")
        conv.say("tomorrow").expect(bot_contains="2026-11-25")


def test_scripted_llm_answers(flow: Path) -> None:
    with conversation(flow, llm_replies=[]) as conv:
        conv.say("do you deliver?", llm={"reply": "Yes, within 5 km."}).expect(
            bot="Yes, within 5 km.", rule="llm", llm_called=True, llm_outcome="reply"
        )
        conv.say("I am starving", llm={"intent": "order"}).expect(intent="order")
        conv.say("hmm", llm=FakeReply.error(429)).expect(  # an outage: the apology
            bot=[builtin("en", "llm_trouble")[0], "Small or large?"],
            rule="llm_failed",
            llm_outcome="failed",
        )


def test_llm_answers_up_front(flow: Path) -> None:
    answers = [{"reply": "One."}, {"text": "not json"}, {"fault": "refusal"}]
    with conversation(flow, llm_replies=answers) as conv:
        conv.say("a").expect(bot="One.")
        assert conv.say("b").result.trace.llm.error.startswith("not_json:")  # type: ignore[union-attr]
        assert conv.say("c").result.trace.llm.error.startswith("refusal:")  # type: ignore[union-attr]
        assert conv.llm is not None and conv.llm.calls == 3 and conv.llm.pending == 0


def test_an_unused_llm_answer_fails_the_turn(flow: Path) -> None:
    with conversation(flow, llm_replies=[]) as conv:
        with pytest.raises(ConversationFailure) as caught:
            conv.say("bye", llm={"reply": "unused"})
        assert conv.llm is not None and conv.llm.pending == 0  # not left for the next turn
    assert str(caught.value).endswith(
        "llm\n"
        "    expected: the LLM to be asked (an answer is scripted)\n"
        '    actual:   the LLM was not asked: intent "bye" answered'
    )


def test_an_unscripted_llm_call_fails_the_turn(flow: Path) -> None:
    with conversation(flow, llm_replies=[]) as conv, pytest.raises(ConversationFailure) as caught:
        conv.say("what?")
    assert str(caught.value).endswith(
        "user\n"
        "    expected: no LLM call (no answer is scripted for this turn)\n"
        """    actual:   the LLM was asked (rule "llm_failed"); script its answer: 'llm:'"""
    )


def test_scripting_needs_a_fake_llm(flow: Path) -> None:
    with conversation(flow) as conv, pytest.raises(ConfigurationError, match="no fake LLM"):
        conv.say("hi", llm={"reply": "x"})


def test_a_failed_turn_is_a_mismatch_unless_expected(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(PIZZA.replace("ticket {{ ticket }}", "ticket {{ ticket.number }}"))
    with conversation(path) as conv:
        conv.say("pizza")
        turn = conv.turn("small")
        turn.expect(rule="error")
        with pytest.raises(ConversationFailure, match="expected: the turn to succeed"):
            turn.expect(state="menu")


def test_a_given_engine_and_fake_llm(flow: Path) -> None:
    seen: list[TurnResult] = []
    with FakeLLM() as fake:
        bot = compile_flows([parse_flow(flow.read_text(), path="pizza.yaml")])
        engine = Engine(bot, actions={"place_order": lambda size: "T2"}, llm=fake.client)
        with Conversation(engine, llm=fake, session_id="s9", on_turn=seen.append) as conv:
            conv.say("tell me", llm={"reply": "Sure."}).expect(bot="Sure.")
        assert fake.calls == 1
        engine.close()
    assert [r.session_id for r in seen] == ["s9", "s9"]


def test_a_handoff_and_resume_from_python() -> None:
    shop = Path(__file__).resolve().parent.parent / "flows" / "customer_service.yaml"
    with Conversation.from_path(shop) as conv:
        conv.say("agent").expect(handed_off=True, handoff_reason="asked_for_person")
        conv.say("anyone?").expect(bot=[], rule="handed_off", handed_off=True)
        with pytest.raises(ConversationFailure) as caught:
            conv.say("still there?").expect(handoff_reason="asked_for_person")
        assert "actual:   no handoff this turn" in str(caught.value)
        conv.resume()
        conv.say("track").expect(handed_off=False, state="tracking")
