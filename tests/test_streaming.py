"""``Engine.astream`` over the real openai SDK and the loopback fake server.

Order is asserted with gates, never with time: the fake server stops before a
gated piece of its answer until the test, having seen the delta of the piece
before, opens the gate; a business action waits on an event the same way.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from itertools import pairwise
from typing import Any

import pytest

from dialogue import Delta, Engine, TurnResult, TurnStream, compile_flows, parse_flow
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.runtime.builtin_replies import builtin
from dialogue.testing import FakeChatServer, FakeReply

SHOP = """
flow: shop
start: menu
slots:
  order_id:
    type: pattern
    pattern: '[A-Z]{2}\\d{6}'
    ask: "What's your order number?"
intents:
  track: {keywords: [track], description: The customer asks where an order is}
  human: {keywords: [agent], scope: global, goto: handoff}
states:
  menu:
    say: "Hi! I can track an order."
    on: {track: tracking}
  tracking:
    say: "Let me check..."
    collect: [order_id]
    call: {action: lookup, with: {order_id: order_id}, into: order}
    next:
      - say: "Order {{ order_id }} is {{ order.status }}."
        goto: menu
  handoff: {say: "Connecting you to a person.", final: true}
fallback: {mode: MODE}
"""
NO_MATCH = "Sorry, I didn't get that."
MENU = "Hi! I can track an order."


def shop(
    client: OpenAIChatClient, mode: str, lookup: Callable[..., Any] | None = None, **options: Any
) -> Engine:
    async def found(order_id: str) -> dict[str, str]:
        return {"status": "shipped"}

    bot = compile_flows([parse_flow(SHOP.replace("MODE", mode), path="shop.yaml")])
    return Engine(
        bot,
        llm=client,
        llm_settings={"retries": 0, "timeout": 20.0},
        actions={"lookup": lookup or found},
        **options,
    )


def structured(reply: str, intent: str | None = None) -> str:
    return json.dumps({"intent": intent, "slots": {}, "reply": reply})


class Lockstep:
    """Opens gate i + 1 of the fake's answer once the delta of piece i has been seen."""

    def __init__(self, fake: FakeChatServer, pieces: int) -> None:
        self.fake = fake
        self.gates = {i: threading.Event() for i in range(1, pieces)}
        self.events: list[tuple[str, int, bool]] = []

    def seen(self, delta: Delta) -> None:
        sent = self.fake.pieces_sent
        self.events.append((delta.text, sent, delta.replace))
        if sent in self.gates:
            self.gates[sent].set()

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.set()


async def drain(stream: TurnStream, on_delta: Callable[[Delta], None]) -> TurnResult:
    async for delta in stream:
        on_delta(delta)
    assert stream.result is not None
    return stream.result


def run(engine: Engine, body: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        try:
            await engine.astart("s")
            return await body()
        finally:
            await engine.aclose()

    return asyncio.run(main())


# -- every mode streams what it has, before the turn ends


@pytest.mark.parametrize(
    ("mode", "pieces"),
    [
        ("respond", ["We", " open", " at", " 8."]),
        ("both", ['{"intent": null, "slots": {}, "reply": "We', " open", " at", " 8.", '"}']),
    ],
)
def test_the_reply_streams_piece_by_piece(
    client: OpenAIChatClient, fake: FakeChatServer, mode: str, pieces: list[str]
) -> None:
    engine = shop(client, mode)
    step = Lockstep(fake, len(pieces))
    fake.script(FakeReply.chunks(pieces, gates=step.gates))
    try:
        result = run(engine, lambda: drain(engine.astream("s", "when do you open?"), step.seen))
    finally:
        step.open_all()
    # each delta was seen while the server held back the next piece
    assert step.events == [
        ("We", 1, False),
        (" open", 2, False),
        (" at", 3, False),
        (" 8.", 4, False),
    ]
    assert result.replies == ["We open at 8."] and result.trace.rule == "llm"
    assert fake.requests[-1]["stream"] is True
    assert ("response_format" in fake.requests[-1]) is (mode == "both")


def test_understand_mode_sends_each_reply_as_soon_as_it_is_said(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    """No text of its own: the flow's replies after the LLM's move, the first one
    before the slow action that follows it."""
    order: list[str] = []

    async def lookup(order_id: str) -> dict[str, str]:
        await released.wait()  # set by the first delta only
        order.append("action done")
        return {"status": "shipped"}

    released = asyncio.Event()
    engine = shop(client, "understand", lookup)
    fake.script(FakeReply.chunks(['{"intent": "track",', ' "slots": {}}']))

    def seen(delta: Delta) -> None:
        order.append(f"delta {delta.index}: {delta.text}")
        released.set()

    result = run(engine, lambda: drain(engine.astream("s", "where's my parcel AB123456?"), seen))
    assert order == [
        "delta 0: Let me check...",
        "action done",
        "delta 1: Order AB123456 is shipped.",
        "delta 2: Hi! I can track an order.",
    ]
    assert result.replies == ["Let me check...", "Order AB123456 is shipped.", MENU]
    assert result.trace.rule == "llm" and "stream" not in fake.requests[-1]


def test_a_rule_reply_arrives_before_the_turn_waits(client: OpenAIChatClient) -> None:
    order: list[str] = []
    released = asyncio.Event()

    async def lookup(order_id: str) -> dict[str, str]:
        await released.wait()
        return {"status": "on its way"}

    engine = shop(client, "off", lookup)

    def seen(delta: Delta) -> None:
        order.append(delta.text)
        released.set()  # only the first delta can let the action finish

    result = run(engine, lambda: drain(engine.astream("s", "track AB123456"), seen))
    assert order == ["Let me check...", "Order AB123456 is on its way.", MENU]
    assert result.replies == order


def test_mode_off_answers_whole_without_the_llm(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, "off")
    deltas: list[Delta] = []
    result = run(engine, lambda: drain(engine.astream("s", "hello?"), deltas.append))
    assert deltas == [Delta(0, NO_MATCH)] and result.replies == [NO_MATCH]
    assert fake.requests == []


# -- escapes, order of fields, refusals, failures


def test_escapes_split_across_pieces_decode_exactly(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    reply = 'Line one\nsays "caf\u00e9" \\ 😀 done'
    text = json.dumps({"intent": None, "slots": {}, "reply": reply})  # ascii escapes
    cuts = [text.index(s) + k for s, k in [("\\n", 1), ('\\"', 1), ("\\u00e9", 4), ("\\ude00", 3)]]
    cuts += [text.index("\\ud83d") + 6, text.index("\\\\") + 1]
    bounds = [0, *sorted(cuts), len(text)]
    pieces = [text[a:b] for a, b in pairwise(bounds)]
    engine = shop(client, "both")
    fake.script(FakeReply.chunks(pieces))
    deltas: list[Delta] = []
    result = run(engine, lambda: drain(engine.astream("s", "say something odd"), deltas.append))
    assert len(deltas) >= 5 and not any(d.replace for d in deltas)
    assert "".join(d.text for d in deltas) == reply == result.replies[0]


def test_a_move_before_the_reply_keeps_the_reply_back(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, "both")
    fake.script(FakeReply.chunks(['{"intent": "human",', ' "slots": {}, "reply": "Sure', '!"}']))
    deltas: list[Delta] = []
    result = run(engine, lambda: drain(engine.astream("s", "a person please"), deltas.append))
    assert deltas == [Delta(0, "Connecting you to a person.")]  # nothing to take back
    assert result.state == "handoff"


def test_a_disallowed_move_before_the_reply_sends_only_the_no_match_reply(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, "both")
    answer = '{"intent": "refund_everything", "slots": {}, "reply": "Done! All refunded."}'
    fake.script(FakeReply.chunks([answer[:40], answer[40:]]))
    deltas: list[Delta] = []
    result = run(engine, lambda: drain(engine.astream("s", "free stuff"), deltas.append))
    assert deltas == [Delta(0, NO_MATCH)]
    assert result.trace.llm is not None and result.trace.llm.outcome == "rejected"


def test_a_refused_answer_written_reply_first_is_replaced(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    """The reply streams optimistically; the refusal comes after it and replaces it."""
    engine = shop(client, "both")
    gate = threading.Event()
    pieces = [
        '{"reply": "Done! All',
        ' refunded."',
        ', "intent": "refund_everything", "slots": {}}',
    ]
    fake.script(FakeReply.chunks(pieces, gates={2: gate}))
    deltas: list[Delta] = []

    def seen(delta: Delta) -> None:
        deltas.append(delta)
        if delta.text == " refunded.":
            assert fake.pieces_sent == 2  # the refusal has not been sent yet
            gate.set()

    try:
        result = run(engine, lambda: drain(engine.astream("s", "free stuff"), seen))
    finally:
        gate.set()
    assert deltas == [
        Delta(0, "Done! All"),
        Delta(0, " refunded."),
        Delta(0, NO_MATCH, replace=True),
    ]
    assert result.replies == [NO_MATCH] and result.trace.llm.outcome == "rejected"  # type: ignore[union-attr]


def test_an_allowed_move_after_the_reply_replaces_it_with_the_flows_reply(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, "both")
    fake.script(FakeReply.chunks(['{"reply": "Hold on', '", "intent": "human", "slots": {}}']))
    deltas: list[Delta] = []
    result = run(engine, lambda: drain(engine.astream("s", "a person please"), deltas.append))
    assert deltas == [
        Delta(0, "Hold on"),
        Delta(0, "Connecting you to a person.", replace=True),
    ]
    assert result.replies == ["Connecting you to a person."]


@pytest.mark.parametrize("mode", ["both", "respond"])
def test_a_stream_cut_mid_reply_is_replaced_by_the_failure_reply(
    client: OpenAIChatClient, fake: FakeChatServer, mode: str
) -> None:
    engine = shop(client, mode)
    first = '{"intent": null, "slots": {}, "reply": "We open' if mode == "both" else "We open"
    fake.script(FakeReply.chunks([first, " at"], cut=True))
    deltas: list[Delta] = []
    result = run(engine, lambda: drain(engine.astream("s", "when?"), deltas.append))
    assert deltas[:2] == [Delta(0, "We open"), Delta(0, " at")]
    trouble = builtin("en", "llm_trouble")[0]  # a failed call: the apology, not a no-match
    assert deltas[2:] == [Delta(0, trouble, replace=True)]
    assert result.replies == [trouble] and result.trace.llm.outcome == "failed"  # type: ignore[union-attr]


# -- the stream's result is ahandle's


SCRIPT: list[tuple[str, Sequence[str]]] = [
    ("when do you open?", ['{"intent": null, "slots": {}, "reply": "At 8', '."}']),
    ("track", []),
    ("my number? hmm", [structured("It's on your receipt.")]),
    ("AB123456", []),
    ("grab me a", ['{"reply": "OK", "intent": "human", "slots": {}}']),
]


def test_the_stream_result_is_what_ahandle_returns(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    def conversation(streamed: bool) -> list[TurnResult]:
        engine = shop(client, "both")

        async def body() -> list[TurnResult]:
            results = []
            for text, pieces in SCRIPT:
                if pieces:
                    fake.script(FakeReply.chunks(pieces))
                if streamed:
                    deltas: list[Delta] = []
                    result = await drain(engine.astream("s", text), deltas.append)
                    assert shown(deltas) == result.replies
                else:
                    result = await engine.ahandle("s", text)
                results.append(result)
            return results

        return run(engine, body)

    plain, streamed = conversation(False), conversation(True)
    for a, b in zip(plain, streamed, strict=True):
        assert (a.replies, a.state, a.slots, a.ended) == (b.replies, b.state, b.slots, b.ended)
        assert a.trace.rule == b.trace.rule and a.trace.steps == b.trace.steps
        la, lb = a.trace.llm, b.trace.llm
        assert (la and la.outcome) == (lb and lb.outcome)
    assert [r.replies for r in plain][-3:] == [
        ["It's on your receipt.", "What's your order number?"],
        ["Order AB123456 is shipped.", MENU],
        ["Connecting you to a person."],
    ]


def shown(deltas: Sequence[Delta]) -> list[str]:
    """What a UI following the deltas shows at the end, bubble by bubble."""
    bubbles: dict[int, str] = {}
    for d in deltas:
        bubbles[d.index] = d.text if d.replace else bubbles.get(d.index, "") + d.text
    return [bubbles[i] for i in sorted(bubbles) if bubbles[i]]


# -- the replace rule, on the stream itself


def stream_of(*attempts: Sequence[tuple[list[str], str]], final: list[str]) -> list[Delta]:
    """The deltas of a turn whose sink is called with these (replies, chunk) pairs."""
    from dialogue.trace import Trace

    async def turn(sink: Callable[[Sequence[str], str], None]) -> TurnResult:
        for calls in attempts:
            for replies, chunk in calls:
                sink(replies, chunk)
        return TurnResult("s", final, "f", "a", {}, False, Trace("s", 1, "f", "a"))

    async def main() -> list[Delta]:
        return [d async for d in TurnStream(turn)]

    return asyncio.run(main())


def test_a_final_reply_that_extends_the_streamed_text_is_appended() -> None:
    replies: list[str] = []
    deltas = stream_of([(replies, "We open at 8")], final=["We open at 8."])
    assert deltas == [Delta(0, "We open at 8"), Delta(0, ".")]


def test_a_bubble_the_result_does_not_have_is_emptied() -> None:
    said = ["Let me check..."]
    deltas = stream_of([(said, ""), (said, "Hold on")], final=["Let me check..."])
    assert deltas == [Delta(0, "Let me check..."), Delta(1, "Hold on"), Delta(1, "", replace=True)]


def test_a_turn_run_again_replaces_what_its_first_run_streamed() -> None:
    """A conflicting save runs the turn again (a new replies list): its text replaces
    the first run's where they differ, and continues it where they agree."""
    first: list[str] = ["Hi."]
    again: list[str] = ["Hi."]
    deltas = stream_of(
        [(first, ""), (first, "One"), (first, " two")],
        [(again, ""), (again, "One"), (again, " two"), (again, " three")],
        [(again, "X")],
        final=["Hi.", "One two threeX"],
    )
    assert deltas == [
        Delta(0, "Hi."),
        Delta(1, "One"),
        Delta(1, " two"),
        Delta(1, "One", replace=True),
        Delta(1, " two"),
        Delta(1, " three"),
        Delta(1, "X"),
    ]


def test_the_model_is_asked_for_the_move_before_the_reply(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    """So the move is known, and checked, before any of the reply is shown."""
    engine = shop(client, "both")
    fake.script(FakeReply.json({"intent": None, "slots": {}, "reply": "Hi"}))
    run(engine, lambda: engine.ahandle("s", "hm"))
    body = fake.requests[-1]
    assert list(body["response_format"]["json_schema"]["schema"]["properties"]) == [
        "intent",
        "slots",
        "reply",
    ]
    system = body["messages"][0]["content"]
    assert 'Write the fields in this order: "intent", "slots", "reply".' in system


def test_a_cached_structured_answer_streams_its_reply_at_once(
    client: OpenAIChatClient, fake: FakeChatServer
) -> None:
    engine = shop(client, "both", llm_cache=4)
    fake.script(FakeReply.chunks(['{"intent": null, "slots": {}, "reply": "At', ' 8."}']))

    async def body() -> list[list[Delta]]:
        turns = []
        for session in ("a", "b"):  # the same request from a new session: a cache hit
            await engine.astart(session)
            deltas: list[Delta] = []
            await drain(engine.astream(session, "when?"), deltas.append)
            turns.append(deltas)
        return turns

    first, second = run(engine, body)
    assert first == [Delta(0, "At"), Delta(0, " 8.")]
    assert second == [Delta(0, "At 8.")] and len(fake.requests) == 1
