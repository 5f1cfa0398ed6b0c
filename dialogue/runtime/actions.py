"""Business actions: plain sync or async Python callables, registered by name.

A flow calls an action with keyword arguments built from slots; the result
lands in a slot. Actions run outside the state machine: the sync face runs a
sync action in a worker thread (so its timeout can be enforced) and an async
action in a private event loop of that thread; the async face awaits async
actions and runs sync ones with ``asyncio.to_thread``. An exception, a timeout
or a result that is not JSON data becomes an ``ActionError``, never a crash; an
``ActionError``'s ``__cause__`` is the action's own exception, whose text is logged
only with ``log_user_data`` (it may quote the order number, the e-mail ...).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialogue.errors import ActionError, ActionTimeout, ConfigurationError
from dialogue.redact import Privacy

if TYPE_CHECKING:
    pass

Action = Callable[..., Any]

log = logging.getLogger("dialogue")


@dataclass(frozen=True, slots=True)
class ActionCall:
    """A request, from the turn logic to whichever face drives it, to run an action."""

    name: str
    arguments: Mapping[str, Any]
    timeout: float
    flow: str = ""
    state: str = ""
    """Where the flow calls it (part of its idempotency key)."""
    key: str = ""
    """The call's idempotency key (``runtime/once.py``), given to an action that asks."""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    ok: bool
    value: Any = None
    error: ActionError | None = None
    seconds: float = 0.0
    key: str = ""
    reused: bool = False
    """The outcome of an earlier run of the same call in this ``handle`` call (the turn
    ran again after a conflict): the action did not run again."""

    @property
    def keyed(self) -> tuple[str, bool]:
        """``key`` and ``reused``, as the trace shows them."""
        return self.key, self.reused


KEY_ARGUMENT = "idempotency_key"
"""The keyword an action names in its signature to be given the call's key."""


def wants_key(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` names the ``idempotency_key`` parameter (``**kwargs`` is not enough:
    an action that forwards its keywords would pass it on to what does not expect it)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    found = parameters.get(KEY_ARGUMENT)
    return found is not None and found.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


def with_key(arguments: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The keyword arguments of an action that wants its key."""
    if not key or KEY_ARGUMENT in arguments:
        return arguments
    return {**arguments, KEY_ARGUMENT: key}


def check_result(name: str, value: Any) -> Any:
    """Action results are stored in slots, so they must be JSON data."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        message = f"returned {type(value).__name__}, which is not JSON data"
        raise ActionError(name, message) from None  # a cause would be the action's own error
    return value


class ActionRunner:
    """The registered actions of one engine, and the means to run them."""

    def __init__(
        self,
        actions: Mapping[str, Action] | None = None,
        *,
        max_workers: int = 8,
        threads: bool = True,
        privacy: Privacy | None = None,
    ) -> None:
        """``threads=False``: sync actions run inline in ``run`` (~40 us faster per call),
        and their timeout is only checked once they return (a hung action hangs the turn)."""
        self.threads = threads
        self.privacy = privacy or Privacy()
        self._actions: dict[str, Action] = {}
        for name, fn in (actions or {}).items():
            if not callable(fn):
                raise ConfigurationError(f"action {name!r} is not callable: {fn!r}")
            self._actions[name] = fn
        self._keyed = frozenset(name for name, fn in self._actions.items() if wants_key(fn))
        """Actions whose signature asks for ``idempotency_key``."""
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._actions)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, "dialogue-action")
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    def _get(self, name: str) -> Action:
        fn = self._actions.get(name)
        if fn is None:
            raise ActionError(name, "is not registered with the engine")
        return fn

    def _arguments(self, call: ActionCall) -> Mapping[str, Any]:
        """The call's keyword arguments, with its key if the action asks for it."""
        return with_key(call.arguments, call.key) if call.name in self._keyed else call.arguments

    def run(self, call: ActionCall) -> Any:
        """Run an action from synchronous code; raises ActionError / ActionTimeout."""
        import asyncio

        fn = self._get(call.name)
        arguments = self._arguments(call)
        if not self.threads and not inspect.iscoroutinefunction(fn):
            return self._inline(fn, call, arguments)
        target: Callable[[], Any]
        if inspect.iscoroutinefunction(fn):
            target = lambda: asyncio.run(fn(**arguments))  # noqa: E731
        else:
            target = lambda: fn(**arguments)  # noqa: E731
        future = self._pool().submit(target)
        try:
            value = future.result(timeout=call.timeout)
        except FutureTimeout:
            future.cancel()
            raise ActionTimeout(call.name, f"did not finish within {call.timeout:g} s") from None
        except Exception as exc:  # the action's own failure, whatever it is
            raise ActionError(call.name, f"raised {type(exc).__name__}: {exc}") from exc
        return check_result(call.name, value)

    def _inline(self, fn: Action, call: ActionCall, arguments: Mapping[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            value = fn(**arguments)
        except Exception as exc:  # the action's own failure, whatever it is
            raise ActionError(call.name, f"raised {type(exc).__name__}: {exc}") from exc
        if time.perf_counter() - started > call.timeout:
            raise ActionTimeout(call.name, f"did not finish within {call.timeout:g} s")
        return check_result(call.name, value)

    def outcome(self, call: ActionCall) -> ActionOutcome:
        """Run an action from synchronous code; failures are part of the outcome."""
        started = time.perf_counter()
        try:
            value = self.run(call)
        except ActionError as exc:
            log.warning("%s", self._logged(exc))
            return ActionOutcome(False, error=exc, seconds=time.perf_counter() - started)
        return ActionOutcome(True, value, seconds=time.perf_counter() - started)

    async def aoutcome(self, call: ActionCall) -> ActionOutcome:
        """Run an action from a coroutine; failures are part of the outcome."""
        started = time.perf_counter()
        try:
            value = await self.arun(call)
        except ActionError as exc:
            log.warning("%s", self._logged(exc))
            return ActionOutcome(False, error=exc, seconds=time.perf_counter() - started)
        return ActionOutcome(True, value, seconds=time.perf_counter() - started)

    def _logged(self, exc: ActionError) -> str:
        """A failure as the log shows it: the action's own exception by type only."""
        cause = exc.__cause__
        if cause is None or self.privacy.log_user_data:
            return self.privacy(exc)
        return f"action {exc.action!r}: raised {type(cause).__name__} (message withheld)"

    async def arun(self, call: ActionCall) -> Any:
        """Run an action from a coroutine without blocking the event loop."""
        import asyncio

        fn = self._get(call.name)
        arguments = self._arguments(call)
        if inspect.iscoroutinefunction(fn):
            pending = fn(**arguments)
        else:
            pending = asyncio.to_thread(fn, **arguments)
        try:
            value = await asyncio.wait_for(pending, call.timeout)
        except asyncio.TimeoutError:
            raise ActionTimeout(call.name, f"did not finish within {call.timeout:g} s") from None
        except Exception as exc:  # the action's own failure, whatever it is
            raise ActionError(call.name, f"raised {type(exc).__name__}: {exc}") from exc
        return check_result(call.name, value)


def load_actions_module(spec: str, *, base: Path | None = None) -> dict[str, Action]:
    """Import the module a flow names in ``actions_module`` and return its actions.

    ``spec`` is a ``.py`` path (relative to ``base``, the flow file's folder) or a
    dotted module name. The module's actions are its ``ACTIONS`` mapping if it
    has one, else every public function defined in it.
    """
    if spec.endswith(".py"):
        path = Path(spec) if base is None else base / spec
        if not path.is_file():
            raise ConfigurationError(
                f"actions module {str(path)!r} not found",
                hint="actions_module is a .py path relative to the flow file, or a module name",
            )
        name = "dialogue_actions_" + path.stem
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigurationError(f"cannot import actions module {str(path)!r}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(spec)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import actions module {spec!r}: {exc}") from exc
    table = getattr(module, "ACTIONS", None)
    if table is not None:
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{spec}: ACTIONS must be a mapping of name -> callable")
        return dict(table)
    return {
        name: fn
        for name, fn in vars(module).items()
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_")
    }
