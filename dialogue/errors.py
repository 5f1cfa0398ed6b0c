"""The one exception tree of `dialogue`.

::

    DialogueError                    every error the framework raises
     ├── FlowError                   a flow file is wrong: path, line, col, code, hint
     │    └── FlowErrors             several FlowErrors found in one pass (``.errors``)
     ├── ConfigurationError          the embedding code set the engine up wrongly
     │    ├── LLMKeyRejected         the LLM API refused the API key (401/403)
     │    └── MissingExtra           an optional extra is needed but not installed
     ├── SessionError                a session could not be used
     │    ├── StoreError             the session store failed (I/O, corrupt data)
     │    │    └── LeaseTimeout      another turn of the session held it too long
     │    ├── ConflictError          a session was saved by someone else meanwhile
     │    ├── SessionNotFound        no such session (never started, erased or expired)
     │    ├── FeedbackError          feedback names a turn the session has not had, or a bad rating
     │    └── EventError             an event no flow declares, or data it does not carry
     ├── ActionError                 a business action failed or timed out
     │    └── ActionTimeout
     ├── RenderError                 a template failed at run time
     ├── UnknownFilter               a template names a filter or test that does not exist
     │                               (also a jinja2 TemplateSyntaxError)
     ├── UnboundedTemplate           a template passes a rendering limit whatever the slots
     │                               hold (also a jinja2 TemplateSyntaxError)
     ├── IllegalMove                 a move the flow does not declare
     ├── FlowLoopError               a flow moved 64 times in one turn without waiting
     ├── AnswerRejected              an LLM answer broke the state's contract (caught
     │                               inside the turn, recorded in ``trace.llm``)
     ├── DatasetError                a labelled utterance file is wrong (dialogue eval)
     ├── CassetteError               a cassette file is wrong (dialogue.testing)
     │    └── CassetteMiss           a request with no recorded answer
     ├── StubError                   what a stubbed action with ``raises:`` raises
     └── ConversationFailure         a conversation's expectations failed (also an
                                     AssertionError, so pytest reports a failed test)

All are defined here.

Every error has a stable ``code`` (snake_case) so callers and tests need not
parse messages. A hint that suggests a name comes from ``did_you_mean``, the one
helper for it. ``FlowError`` prints as ``path:line:col: message`` followed by
an indented ``hint:`` line when there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError


class DialogueError(Exception):
    """Base class of every error raised by `dialogue`."""

    code: str = "dialogue_error"


Loc = tuple[str | int, ...]
"""Where in a flow (or test) file: the keys and list indexes from the root, e.g.
``("states", "menu", "on", "track", 0)``."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a flow file, with where it is and how to fix it."""

    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}"
        label = "" if self.severity == "error" else "warning: "
        text = f"{where}: {label}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class FlowError(DialogueError):
    """A flow file is wrong. Carries ``path``, ``line``, ``col``, ``code``, ``hint``."""

    code = "flow_error"

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        self.path = diagnostic.path
        self.line = diagnostic.line
        self.col = diagnostic.col
        self.code = diagnostic.code
        self.message = diagnostic.message
        self.hint = diagnostic.hint
        super().__init__(str(diagnostic))


class FlowErrors(FlowError):
    """Several problems found in one pass; ``errors`` lists them in file order."""

    code = "flow_errors"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        if not diagnostics:
            raise ValueError("FlowErrors needs at least one diagnostic")
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.path, d.line, d.col))
        self.errors = [FlowError(d) for d in self.diagnostics]
        super().__init__(self.diagnostics[0])
        self.args = ("\n".join(str(d) for d in self.diagnostics),)

    def __str__(self) -> str:
        return str(self.args[0])


class ConfigurationError(DialogueError):
    """The embedding code set the engine up wrongly (unknown action, bad option)."""

    code = "configuration_error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.hint = hint
        super().__init__(message + (f"\n    hint: {hint}" if hint else ""))


class LLMKeyRejected(ConfigurationError):
    """The LLM API refused the API key (401/403); no LLM requests are sent with it until
    the key changes or the host resets the check (``dialogue.llm.key_check``)."""

    code = "llm_key_rejected"


class MissingExtra(ConfigurationError):
    """An optional extra is needed but not installed (``pip install 'dialogue[extra]'``)."""

    code = "missing_extra"

    def __init__(self, extra: str, needed_for: str, *, missing: str) -> None:
        self.extra, self.missing = extra, missing
        super().__init__(
            f"{needed_for} needs {missing}, which is not installed",
            hint=f"pip install 'dialogue[{extra}]'",
        )


class SessionError(DialogueError):
    """A session could not be loaded, used or saved."""

    code = "session_error"

    def __init__(self, message: str, *, session_id: str = "") -> None:
        self.session_id = session_id
        super().__init__(message)


class StoreError(SessionError):
    """The session store failed; the session keeps its previous state.

    ``retryable``: whether the same call may succeed later (a connection lost, a
    timeout, a locked database, a busy lease: True) or will fail again until someone
    acts (a corrupt record, a schema mismatch, data that is not JSON, a closed
    store: False). The server answers 503 with ``Retry-After`` for the first, 500
    for the second."""

    code = "store_error"

    def __init__(self, message: str, *, session_id: str = "", retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message, session_id=session_id)


class LeaseTimeout(StoreError):
    """Another turn held the session's lease for longer than the engine would wait."""

    code = "lease_timeout"


class ConflictError(SessionError):
    """The session changed in the store since it was loaded (optimistic locking)."""

    code = "conflict"


class SessionNotFound(SessionError):
    """An operation needs a stored session and there is none (never started, erased by
    ``reset``, or expired)."""

    code = "session_not_found"


class FeedbackError(SessionError):
    """Feedback that cannot be kept: a turn the session has not had, or a rating that
    is neither ``up``/``down`` nor 1 to 5."""

    code = "invalid_feedback"


class EventError(SessionError):
    """An event the host sent that no flow declares (``events:``), or data naming a slot
    the event does not carry (its ``slots``). Nothing ran; the session is unchanged."""

    code = "invalid_event"

    def __init__(self, message: str, *, event: str, hint: str = "", session_id: str = "") -> None:
        super().__init__(message, session_id=session_id)
        self.event = event
        self.hint = hint


class ActionError(DialogueError):
    """A business action raised, or returned something unusable."""

    code = "action_error"

    def __init__(self, action: str, message: str) -> None:
        self.action = action
        super().__init__(f"action {action!r}: {message}")


class ActionTimeout(ActionError):
    """A business action did not finish within its timeout."""

    code = "action_timeout"


class RenderError(DialogueError):
    """A template or condition failed at run time (caught and traced by the engine)."""

    code = "render_error"

    def __init__(self, source: str, error: BaseException) -> None:
        self.source = source
        self.error = error
        shown = source if len(source) <= 60 else source[:57] + "..."
        super().__init__(f"{shown!r}: {type(error).__name__}: {error}")


class UnknownFilter(DialogueError, TemplateSyntaxError):
    """A template or expression names a filter (or, ``kind="test"``, a test) that does
    not exist. Jinja only finds some of these when rendering (inside ``{% if %}``);
    the compile functions find them all, up front.

    Deliberately also a ``jinja2.TemplateSyntaxError``: code that compiles
    templates catches that one exception for every template mistake (and reads its
    ``lineno`` and ``message``).
    """

    code = "unknown_filter"

    def __init__(self, kind: str, name: str, known: Iterable[str], lineno: int) -> None:
        TemplateSyntaxError.__init__(self, f"unknown {kind} '{name}'", lineno)
        self.kind = kind
        self.unknown = name  # ``name`` is Jinja's: the template's
        self.known = tuple(sorted(known))


class UnboundedTemplate(DialogueError, TemplateSyntaxError):
    """A template that would pass a rendering limit on every render (``range(10**6)``,
    ``center(10**8)``, nested loops of more steps than a render may take): found at
    compile time, with a ``hint``. Also a ``jinja2.TemplateSyntaxError``, as
    `UnknownFilter` is."""

    code = "unbounded_template"

    def __init__(self, message: str, lineno: int, *, hint: str = "") -> None:
        TemplateSyntaxError.__init__(self, message, lineno)
        self.hint = hint


class IllegalMove(DialogueError):
    """A move from a state to a state that the flow does not allow."""

    code = "illegal_move"

    def __init__(self, flow: str, source: str, dest: str) -> None:
        self.flow, self.source, self.dest = flow, source, dest
        super().__init__(f"flow {flow!r} has no move from {source!r} to {dest!r}")


class FlowLoopError(DialogueError):
    """A flow moved ``moves`` times in one turn without waiting for the user: a cycle
    of states with no question or idle wait in it."""

    code = "flow_loop"

    def __init__(self, message: str, *, flow: str = "", moves: int = 0) -> None:
        self.flow, self.moves = flow, moves
        super().__init__(message)


class AnswerRejected(DialogueError):
    """The LLM's answer is outside what the current state allows (the message says
    how). The LLM step catches it: the turn goes on as if nothing was understood."""

    code = "llm_answer_rejected"


MAX_DATASET_PROBLEMS = 20
"""How many problems a ``DatasetError`` message lists (``problems`` holds them all)."""


class DatasetError(DialogueError):
    """A labelled utterance file is wrong: ``problems`` are ``(line, message)`` pairs."""

    code = "dataset_error"

    def __init__(self, path: str, problems: Sequence[tuple[int, str]]) -> None:
        self.path = path
        self.problems = tuple(problems)
        self.line = self.problems[0][0]
        shown = self.problems[:MAX_DATASET_PROBLEMS]
        lines = [f"{path}:{line}: {message}" for line, message in shown]
        if len(self.problems) > MAX_DATASET_PROBLEMS:
            more = len(self.problems) - MAX_DATASET_PROBLEMS
            lines.append(f"{path}: ... and {more} more problems")
        super().__init__("\n".join(lines))


class CassetteError(DialogueError):
    """A cassette file cannot be read, or is not a cassette (``path``: which file)."""

    code = "cassette_error"

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(message)


class CassetteMiss(CassetteError):
    """A request that the cassette has no answer for (``path``, ``request``, ``detail``)."""

    code = "cassette_miss"

    def __init__(self, path: str, request: Any, detail: str) -> None:  # an LLMRequest
        self.request = request
        self.detail = detail
        hint = (
            "a changed prompt, flow, message or LLM setting needs a new recording: run with "
            "mode='auto' to add it (or mode='record' to re-record all), then review the diff"
        )
        super().__init__(
            f"cassette miss: {path} has no answer for {_summary(request)}\n"
            f"    {detail}\n    hint: {hint}",
            path=path,
        )


def _summary(request: Any) -> str:
    users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    last = last if len(last) <= 90 else last[:87] + "..."
    shown = f", last user message {last!r}" if users else ""
    return f"a request to {request.settings.model} ({len(request.messages)} messages{shown})"


class StubError(DialogueError):
    """What a stubbed action with ``raises:`` raises: the flow sees a failed action.

    The message is the stub's ``raises:`` text; ``action`` names the stubbed action.
    """

    code = "stub_error"

    def __init__(self, message: str, *, action: str = "") -> None:
        self.action = action
        super().__init__(message)


class ConversationFailure(DialogueError, AssertionError):
    """Expectations of a conversation failed; ``str()`` is the report for a designer.

    ``failures`` are (where, mismatch) pairs; ``where`` is ``path:line`` of the
    expectation in a test file ("" for Python tests); ``turns`` is the transcript
    up to the failed turn. Deliberately also an ``AssertionError``: pytest then
    reports a failed test, not an error in the test.
    """

    code = "conversation_failure"

    def __init__(
        self,
        report: str,
        *,
        name: str = "",
        label: str = "",
        turns: Sequence[tuple[str | None, Any]] = (),  # (user text, TurnResult)
        failures: Sequence[tuple[str, Any]] = (),  # (where, Mismatch)
        where: str = "",
    ) -> None:
        self.report = report
        self.name = name
        self.label = label
        self.turns = list(turns)
        self.failures = list(failures)
        self.where = where
        super().__init__(report)


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``did you mean 'say'?`` (``'say' or 'set'?`` on a tie), or "" if nothing is close.

    The one did-you-mean of the package: every hint that suggests a name uses it.
    """
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), choices, n=3, cutoff=0.6)
    ratio = [difflib.SequenceMatcher(None, str(word), c).ratio() for c in close]
    best = sorted(c for c, r in zip(close, ratio, strict=True) if r == max(ratio, default=0))
    shown = " or ".join(f"'{c}'" for c in best)
    return f"did you mean {shown}?" if best else ""
