"""The one exception tree of `dialogue`.

::

    DialogueError                    every error the framework raises
     ├── FlowError                   a flow file is wrong: path, line, col, code, hint
     │    └── FlowErrors             several FlowErrors found in one pass (``.errors``)
     ├── ConfigurationError          the embedding code set the engine up wrongly
     ├── SessionError                a session could not be used
     │    ├── StoreError             the session store failed (I/O, corrupt data)
     │    │    └── LeaseTimeout      another turn of the session held it too long
     │    └── ConflictError          a session was saved by someone else meanwhile
     ├── ActionError                 a business action failed or timed out
     │    └── ActionTimeout
     ├── RenderError                 a template failed at run time (templates.py)
     ├── IllegalMove                 a move the flow does not declare (machine.py)
     ├── FlowLoopError               a flow moved 64 times in one turn (turn.py)
     ├── DatasetError                a labelled utterance file is wrong (evaluate.py)
     └── CassetteError               a cassette file is wrong (testing/_cassette_file.py)
          └── CassetteMiss           a request with no recorded answer (testing/cassette.py)

The last five live beside the code that raises them, since they carry its
types; they are drawn here so the tree stays in one place.

Every error has a stable ``code`` (snake_case) so callers and tests need not
parse messages. ``FlowError`` prints as ``path:line:col: message`` followed by
an indented ``hint:`` line when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class SessionError(DialogueError):
    """A session could not be loaded, used or saved."""

    code = "session_error"

    def __init__(self, message: str, *, session_id: str = "") -> None:
        self.session_id = session_id
        super().__init__(message)


class StoreError(SessionError):
    """The session store failed; the session keeps its previous state."""

    code = "store_error"


class LeaseTimeout(StoreError):
    """Another turn held the session's lease for longer than the engine would wait."""

    code = "lease_timeout"


class ConflictError(SessionError):
    """The session changed in the store since it was loaded (optimistic locking)."""

    code = "conflict"


class ActionError(DialogueError):
    """A business action raised, or returned something unusable."""

    code = "action_error"

    def __init__(self, action: str, message: str) -> None:
        self.action = action
        super().__init__(f"action {action!r}: {message}")


class ActionTimeout(ActionError):
    """A business action did not finish within its timeout."""

    code = "action_timeout"
