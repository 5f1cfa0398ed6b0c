"""CassetteClient: record through the real SDK against the fake server, replay with none."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dialogue import Engine
from dialogue.errors import ConfigurationError, DialogueError
from dialogue.llm.openai_client import (
    LLMClient,
    LLMRequest,
    LLMResponse,
    LLMSettings,
    LLMStream,
    OpenAIChatClient,
)
from dialogue.testing import FakeChatServer, FakeReply
from dialogue.testing.cassette import CassetteClient, CassetteError, CassetteMiss

FLOWS = Path(__file__).resolve().parent.parent / "flows"
FAST = LLMSettings(model="gpt-test", timeout=2.0, retries=0)
SYSTEM = "You route the messages of a shop's customers.\nAnswer with JSON."
SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": ["string", "null"]}},
    "required": ["intent"],
    "additionalProperties": False,
}


def ask(text: str, *, system: str = SYSTEM, schema: bool = True, **settings: object) -> LLMRequest:
    messages = ({"role": "system", "content": system}, {"role": "user", "content": text})
    options = dataclasses.replace(FAST, **settings)  # type: ignore[arg-type]
    return LLMRequest(messages, options, SCHEMA if schema else None)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer(model="fake-model-2026") as srv:
        yield srv


@pytest.fixture
def live(server: FakeChatServer) -> Iterator[OpenAIChatClient]:
    server.reset()
    client = OpenAIChatClient(api_key="sk-test", base_url=server.url)
    yield client
    client.close()


@pytest.fixture
def offline() -> OpenAIChatClient:
    """A client that must never be reached: nothing listens on port 9."""
    return OpenAIChatClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1")


def stream(client: LLMClient, request: LLMRequest) -> tuple[list[str], LLMResponse]:
    async def run() -> tuple[list[str], LLMResponse]:
        s = client.astream(request)
        chunks = [chunk async for chunk in s]
        return chunks, s.response

    return asyncio.run(run())


def same_answer(a: LLMResponse, b: LLMResponse) -> None:
    assert (a.content, a.data, a.failure, a.model, a.finish_reason) == (
        b.content,
        b.data,
        b.failure,
        b.model,
        b.finish_reason,
    )
    assert a.usage == b.usage


# --------------------------------------------------------------------------- record, replay


def test_record_then_replay_without_a_server(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    server.script(FakeReply.json({"intent": "track"}, usage=(40, 6)))
    recorder = CassetteClient(live, path, mode="record")
    recorded = recorder.complete(ask("where is my parcel?"))
    assert recorded.ok and recorded.data == {"intent": "track"}
    assert len(server.requests) == 1 and len(recorder) == 1

    player = CassetteClient(None, path)  # replay: no client at all
    replayed = player.complete(ask("where is my parcel?"))
    same_answer(replayed, recorded)
    assert replayed.model == "fake-model-2026" and replayed.usage is not None
    assert (replayed.usage.prompt_tokens, replayed.usage.total_tokens) == (40, 46)
    assert not replayed.cached and player.misses == []
    player.assert_no_misses()
    assert len(server.requests) == 1


def test_the_cassette_is_readable_yaml(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    server.script(FakeReply.json({"intent": "track"}, usage=(40, 6)))
    CassetteClient(live, path, mode="record").complete(ask("where is my parcel?"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# LLM answers recorded by dialogue.testing.CassetteClient")
    assert (
        "    messages:\n"
        "    - role: system\n"
        "      content: |-\n"
        "        You route the messages of a shop's customers.\n"
        "        Answer with JSON.\n"
        "    - role: user\n"
        "      content: where is my parcel?\n"
    ) in text
    data = yaml.safe_load(text)
    assert data["version"] == 1
    (interaction,) = data["interactions"]
    assert list(interaction["request"]) == [
        "model",
        "temperature",
        "max_tokens",
        "schema",
        "messages",
    ]
    assert interaction["response"] == {
        "content": '{"intent": "track"}',
        "finish_reason": "stop",
        "model": "fake-model-2026",
        "usage": {"prompt_tokens": 40, "completion_tokens": 6, "estimated": False},
    }


def test_order_of_recording_does_not_change_the_file(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    texts = ["track it", "refund please", "hello"]
    files = []
    for name, order in (("a.yaml", texts), ("b.yaml", texts[::-1])):
        recorder = CassetteClient(live, tmp_path / name, mode="record")
        for text in order:
            server.script(FakeReply.json({"intent": text.split()[0]}, usage=(10, 2)))
            recorder.complete(ask(text))
        files.append((tmp_path / name).read_bytes())
    assert files[0] == files[1]


def test_async_and_streaming_replay(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "faq.yaml"
    recorder = CassetteClient(live, path, mode="record")
    server.script(FakeReply.text("We open at eight and close at eight."))
    chunks, recorded = stream(recorder, ask("opening hours?", schema=False))
    assert "".join(chunks) == "We open at eight and close at eight." and len(chunks) > 3
    server.script(FakeReply.json({"intent": None}))
    structured = asyncio.run(recorder.acomplete(ask("hmm")))
    assert structured.data == {"intent": None}

    player = CassetteClient(None, path)
    replayed_chunks, replayed = stream(player, ask("opening hours?", schema=False))
    assert replayed_chunks == ["We ", "open ", "at ", "eight ", "and ", "close ", "at ", "eight."]
    same_answer(replayed, recorded)
    same_answer(asyncio.run(player.acomplete(ask("hmm"))), structured)
    # any face replays any recording: the key is the request, not how it was sent
    same_answer(player.complete(ask("opening hours?", schema=False)), recorded)
    chunks, answer = stream(player, ask("hmm"))
    assert "".join(chunks) == '{"intent": null}' and answer.data == {"intent": None}
    player.assert_no_misses()


def test_temperature_zero_as_int_or_float_is_one_request(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "t.yaml"
    CassetteClient(live, path, mode="record").complete(ask("hi", schema=False, temperature=0.0))
    assert CassetteClient(None, path).complete(ask("hi", schema=False, temperature=0)).ok


# --------------------------------------------------------------------------- misses


def test_a_changed_prompt_is_a_miss_not_a_live_call(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient, offline: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    server.script(FakeReply.json({"intent": "track"}))
    CassetteClient(live, path, mode="record").complete(ask("where is my parcel?"))
    changed = SYSTEM.replace("a shop's customers", "the customers of a shop")
    player = CassetteClient(offline, path)  # replay never asks the inner client
    answer = player.complete(ask("where is my parcel?", system=changed))
    assert answer.failure is not None and answer.failure.kind == "cassette_miss"
    assert answer.content is None and answer.data is None
    (miss,) = player.misses
    assert isinstance(miss, CassetteMiss) and isinstance(miss, DialogueError)
    assert miss.code == "cassette_miss" and miss.path == str(path)
    assert answer.failure.message == str(miss)
    assert str(miss) == (
        f"cassette miss: {path} has no answer for a request to gpt-test (2 messages, "
        "last user message 'where is my parcel?')\n"
        f"    closest ({path}:5): message 0 (system) differs:\n"
        "      - You route the messages of a shop's customers.\n"
        "      + You route the messages of the customers of a shop.\n"
        "    hint: a changed prompt, flow, message or LLM setting needs a new recording: run "
        "with mode='auto' to add it (or mode='record' to re-record all), then review the diff"
    )
    with pytest.raises(CassetteMiss) as raised:
        player.assert_no_misses()
    assert raised.value is miss


def test_miss_names_changed_settings_and_counts_the_misses(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    CassetteClient(live, path, mode="record").complete(ask("hi"))
    player = CassetteClient(None, path)
    player.complete(ask("hi", model="gpt-other", max_tokens=50))
    stream(player, ask("hello"))
    asyncio.run(player.acomplete(ask("hi", schema=False)))
    details = [m.detail for m in player.misses]
    assert details[0] == (
        f"closest ({path}:5): model is 'gpt-other', recorded 'gpt-test'\n"
        "      max_tokens is 50, recorded 300"
    )
    assert details[1].endswith("message 1 (user) differs:\n      - hi\n      + hello")
    assert "the answer schema differs:" in details[2]
    with pytest.raises(CassetteMiss, match=r"\n    and 2 more misses \(see \.misses\)"):
        player.assert_no_misses()


def test_a_miss_degrades_the_turn_and_replay_repeats_the_conversation(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"

    def run(client: LLMClient, message: str) -> list[object]:
        engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=client)
        engine.start("s")
        r = engine.handle("s", message)
        llm = r.trace.llm
        return [r.replies, r.state, r.trace.rule, r.trace.intent, llm and llm.outcome]

    server.script(FakeReply.json({"intent": "track", "slots": {}, "reply": None}))
    recorder = CassetteClient(live, path, mode="record")
    recorded = run(recorder, "the thing I bought never showed up")
    assert recorded[1:] == ["tracking", "llm", "track", "intent"]
    assert run(CassetteClient(None, path), "the thing I bought never showed up") == recorded

    player = CassetteClient(None, path)
    engine = Engine.from_path(FLOWS / "customer_service.yaml", llm=player)
    engine.start("s")
    r = engine.handle("s", "the thing I bought never came")
    assert r.state == "menu" and r.trace.rule == "llm_failed"  # an apology, no no-match
    assert r.replies[0].startswith("Sorry, something went wrong on my side.")
    assert r.trace.errors[0].startswith(f"llm cassette_miss: cassette miss: {path} has no")
    with pytest.raises(CassetteMiss, match="message 1 \\(user\\) differs"):
        player.assert_no_misses()


# --------------------------------------------------------------------------- modes


def test_auto_replays_hits_and_records_misses(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    server.script(FakeReply.json({"intent": "track"}))
    CassetteClient(live, path, mode="record").complete(ask("track"))
    auto = CassetteClient(live, path, mode="auto")
    assert auto.complete(ask("track")).data == {"intent": "track"}
    assert len(server.requests) == 1  # a hit: not sent
    server.script(FakeReply.json({"intent": "return"}))
    assert auto.complete(ask("refund")).data == {"intent": "return"}
    assert len(server.requests) == 2 and auto.misses == []
    assert len(CassetteClient(None, path)) == 2


def test_record_starts_a_fresh_cassette(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    CassetteClient(live, path, mode="record").complete(ask("old"))
    server.script(FakeReply.json({"intent": "new"}))
    recorder = CassetteClient(live, path, mode="record")
    assert recorder.complete(ask("old")).data == {"intent": "new"}  # asked again
    recorder.complete(ask("other"))
    player = CassetteClient(None, path)
    assert player.complete(ask("old")).data == {"intent": "new"} and len(player) == 2


def test_model_failures_are_recorded_transport_failures_are_not(
    tmp_path: Path, server: FakeChatServer, live: OpenAIChatClient
) -> None:
    path = tmp_path / "shop.yaml"
    recorder = CassetteClient(live, path, mode="record")
    server.script(FakeReply.refusal("I can't help with that."), FakeReply.error(500))
    refused = recorder.complete(ask("something odd"))
    assert refused.failure is not None and refused.failure.kind == "refusal"
    failed = recorder.complete(ask("anything"))
    assert failed.failure is not None and failed.failure.kind == "server_error"
    player = CassetteClient(None, path)
    assert len(player) == 1
    same_answer(player.complete(ask("something odd")), refused)
    assert player.complete(ask("anything")).failure.kind == "cassette_miss"  # type: ignore[union-attr]


class Noted:
    """A live client, noting each ``close`` and ``aclose`` it is given, then passing it on."""

    def __init__(self, inner: OpenAIChatClient) -> None:
        self.inner = inner
        self.closes: list[str] = []

    def complete(self, request: LLMRequest) -> LLMResponse:
        return self.inner.complete(request)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        return await self.inner.acomplete(request)

    def astream(self, request: LLMRequest) -> LLMStream:
        return self.inner.astream(request)

    def close(self) -> None:
        self.closes.append("close")
        self.inner.close()

    async def aclose(self) -> None:
        self.closes.append("aclose")
        await self.inner.aclose()


def test_closing_is_passed_on(tmp_path: Path, live: OpenAIChatClient) -> None:
    inner = Noted(live)
    recorder = CassetteClient(inner, tmp_path / "c.yaml", mode="record")
    recorder.complete(ask("hi"))
    recorder.close()
    assert inner.closes == ["close"]
    asyncio.run(recorder.aclose())
    assert inner.closes == ["close", "aclose"]
    replayer = CassetteClient(None, tmp_path / "c.yaml")  # nothing to pass on, and no error
    replayer.close()
    asyncio.run(replayer.aclose())


# --------------------------------------------------------------------------- bad set-ups


def test_replay_needs_the_file_and_recording_needs_a_client(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as missing:
        CassetteClient(None, tmp_path / "none.yaml")
    assert str(missing.value) == (
        f"cassette {tmp_path / 'none.yaml'} not found\n"
        "    hint: record it first: CassetteClient(client, path, mode='record' or 'auto')"
    )
    with pytest.raises(ConfigurationError, match="cassette mode 'record' needs a client"):
        CassetteClient(None, tmp_path / "none.yaml", mode="record")
    with pytest.raises(ConfigurationError, match="unknown cassette mode 'replay!'"):
        CassetteClient(None, tmp_path / "none.yaml", mode="replay!")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\ninteractions: [\n", ":3:1: "),
        ("version: 2\n", ":1:10: not a cassette: version: Input should be 1"),
        (
            "version: 1\ninteractions:\n- request: {model: m}\n  response: {model: m}\n",
            ":3:12: not a cassette: interactions.0.request.temperature: Field required",
        ),
        (
            "version: 1\ninteractions:\n- request: {model: m, temperature: 9, max_tokens: 5,"
            " messages: []}\n  response: {model: m}\n",
            ":3:12: LLM temperature 9.0 is outside 0..2",
        ),
    ],
)
def test_a_broken_cassette_says_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CassetteError) as raised:
        CassetteClient(None, path)
    assert str(raised.value).startswith(f"{path}{message}")
    assert raised.value.code == "cassette_error"


def test_a_hand_edited_answer_that_is_not_json(tmp_path: Path, live: OpenAIChatClient) -> None:
    path = tmp_path / "c.yaml"
    CassetteClient(live, path, mode="record").complete(ask("hi"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["interactions"][0]["response"]["content"] = "not json"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML too
    answer = CassetteClient(None, path).complete(ask("hi"))
    assert answer.failure is not None and answer.failure.kind == "not_json"
