"""Test doubles for conversations: stubbed actions, a scripted fake LLM, a test engine.

* `stub_action` makes a business action that returns a value or fails, per call;
* `FakeLLM` is a fake Chat Completions server (`FakeChatServer`) that answers each
  request with the next scripted answer, and the real `OpenAIChatClient` for it;
* `make_engine` builds an `Engine` on a fixed date, with the fake LLM or offline.
"""

from __future__ import annotations

import datetime
import itertools
import os
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from dialogue.authoring.loader import load_flows
from dialogue.compiler.build import compile_flows
from dialogue.engine import Engine
from dialogue.errors import StubError
from dialogue.runtime.actions import Action, load_actions_module
from dialogue.runtime.compiled import Bot
from dialogue.testing.fake_server import FakeChatServer, FakeReply, Request
from dialogue.testing.spec import (
    DEFAULT_TODAY,
    ActionStub,
    LLMAnswer,
    LLMFault,
    LLMScript,
    LLMText,
    Stubs,
)
from dialogue.trace import TurnResult

if TYPE_CHECKING:
    from dialogue.llm.openai_client import OpenAIChatClient

LLM_SETTINGS: Mapping[str, Any] = {"retries": 0, "timeout": 5.0}
"""How a conversation under test calls the fake LLM: no retries, a short timeout."""
FAULT_TIMEOUT = 0.2
"""The client timeout of a turn scripted with ``fault: timeout`` (the server hangs longer)."""

Answer = LLMAnswer | LLMText | LLMFault | FakeReply
_ANSWER: TypeAdapter[Any] = TypeAdapter(LLMScript)
_STUBS: TypeAdapter[Any] = TypeAdapter(Stubs)


def stub_action(name: str, stubs: Sequence[ActionStub]) -> Action:
    """A business action that answers the nth call with the nth stub (the last repeats)."""
    calls = itertools.count()

    def action(**arguments: Any) -> Any:
        chosen = stubs[min(next(calls), len(stubs) - 1)]
        if chosen.raises is not None:
            raise StubError(chosen.raises, action=name)
        return chosen.returns

    action.__name__ = action.__qualname__ = name
    return action


def as_answer(answer: Answer | Mapping[str, Any]) -> Answer:
    """A scripted LLM answer: a `FakeReply`, ``{intent, slots, reply}``, ``{text}``, ``{fault}``."""
    if isinstance(answer, (FakeReply, LLMAnswer, LLMText, LLMFault)):
        return answer
    result: Answer = _ANSWER.validate_python(answer)
    return result


def _reply(answer: Answer, request: Request) -> FakeReply:
    if isinstance(answer, FakeReply):
        return answer
    if isinstance(answer, LLMText):
        return FakeReply.text(answer.text)
    if isinstance(answer, LLMAnswer):
        free_text = "response_format" not in request  # the state's fallback mode is `respond`
        if free_text and answer.model_fields_set <= {"reply"}:
            return FakeReply.text(answer.reply or "")
        return FakeReply.json(answer.data())
    fault = answer.fault
    if isinstance(fault, int):
        return FakeReply.error(fault)
    if fault == "timeout":
        return FakeReply.hang(FAULT_TIMEOUT * 5)
    if fault == "refusal":
        return FakeReply.refusal("I can't help with that.")
    return FakeReply.raw("<html><body>502 Bad Gateway</body></html>", content_type="text/html")


class FakeLLM:
    """A fake Chat Completions server answering from scripted answers, and a real client.

    Each request takes the next scripted answer; a request with none left is
    answered with an HTTP 500 and counted in ``unscripted``.
    """

    def __init__(self, *, model: str = "fake-model") -> None:
        self.server = FakeChatServer(model=model, responder=self._respond)
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._client: OpenAIChatClient | None = None
        self.calls = 0
        self.unscripted = 0

    def script(self, *answers: Answer | Mapping[str, Any]) -> None:
        checked = [as_answer(a) for a in answers]
        with self._lock:
            self._answers.extend(checked)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._answers)

    def reset(self) -> None:
        """Forget unused answers and the counts."""
        with self._lock:
            self._answers.clear()
            self.calls = self.unscripted = 0

    def _respond(self, request: Request) -> FakeReply:
        with self._lock:
            self.calls += 1
            answer = self._answers.popleft() if self._answers else None
            if answer is None:
                self.unscripted += 1
        if answer is None:
            body = {"error": {"message": "no LLM answer was scripted for this request"}}
            return FakeReply.error(500, body=body)
        return _reply(answer, request)

    @property
    def client(self) -> OpenAIChatClient:
        """The `OpenAIChatClient` for the server (started on first use)."""
        if self._client is None:
            from dialogue.llm.openai_client import OpenAIChatClient

            self.server.start()
            self._client = OpenAIChatClient(api_key="test-key", base_url=self.server.url)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.server.stop()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_bot(
    flow: str | os.PathLike[str], *, main: str | None = None
) -> tuple[Bot, dict[str, Action]]:
    """Compile a flow file and load its ``actions_module`` (as ``Engine.from_path`` does)."""
    loaded = load_flows(flow)
    bot = compile_flows(loaded, main=main)
    actions: dict[str, Action] = {}
    for lf in loaded:
        if lf.flow.actions_module is not None:
            base = lf.path.parent if lf.path is not None else Path.cwd()
            actions = {**load_actions_module(lf.flow.actions_module, base=base), **actions}
    return bot, actions


def make_actions(
    defaults: Mapping[str, Action], stubs: Mapping[str, Any] | None
) -> dict[str, Action]:
    """The flow's actions with some replaced: by a callable, or a stub (``{returns: ...}``)."""
    actions = dict(defaults)
    for name, given in (stubs or {}).items():
        if callable(given):
            actions[name] = given
        else:
            actions[name] = stub_action(name, _STUBS.validate_python({name: given})[name])
    return actions


def make_engine(
    bot: Bot,
    *,
    actions: Mapping[str, Action],
    llm: FakeLLM | None = None,
    today: datetime.date | None = None,
) -> Engine:
    """An engine for tests: a fixed clock (noon of ``today``), the fake LLM or none."""
    noon = datetime.datetime.combine(today or DEFAULT_TODAY, datetime.time(12))
    return Engine(
        bot,
        actions=actions,
        clock=lambda: noon,
        llm=None if llm is None else llm.client,
        llm_settings=LLM_SETTINGS if llm is not None else None,
    )


def seeded_start(
    engine: Engine,
    session_id: str,
    slots: Mapping[str, Any],
    meta: Mapping[str, Any],
    language: str | None = None,
) -> TurnResult:
    """Greet a new session that starts with ``slots`` and ``meta``, in ``language``."""
    return engine.start(session_id, slots=slots, meta=meta, language=language)


def seeded_first(
    engine: Engine,
    session_id: str,
    text: str,
    slots: Mapping[str, Any],
    meta: Mapping[str, Any],
    language: str | None = None,
) -> TurnResult:
    """A new session's first message, as a host sends it (the reply greets too), the
    session starting with ``slots`` and ``meta``, in ``language``."""
    if not slots and not meta:
        return engine.handle(session_id, text, language=language)
    checked = engine._check_text(text)  # the one turn that seeds a session and answers
    seed = (dict(slots), dict(meta))
    return engine._handle(session_id, checked, seed, language=language)
