"""Side effects of a turn: at least once, with a key that says "the same one again".

A business action runs while the turn runs, before the session is saved. If the
save then fails (the store is down: a ``StoreError``), or finds the session
saved meanwhile (a ``ConflictError``: the engine runs the turn again from a
fresh load), or the turn fails after it (the error reply, nothing saved), or the
process dies, the action has run and the session does not show it. Running it
*at most once* would need a save before every action and would lose the
action's result on a crash; ``dialogue`` runs it *at least once* and hands it
an **idempotency key** that is the same every time the same call is made for
the same message:

- the key is a digest of the session id, the message id (``handle(...,
  message_id=)``; without one, an id drawn once per ``handle`` call), the flow,
  state and action of the call, its arguments, and how many identical calls came
  before it in the turn. A turn run again after a conflict, and a message
  delivered again after a failed save, make the same calls with the same keys;
- an action receives it as the keyword argument ``idempotency_key`` if its
  signature names that parameter (a flow that passes an argument of that name
  itself keeps its own value);
- within one ``handle`` call, a call that already succeeded is not run again: a
  turn run again after a conflict re-uses its outcome (``ActionTrace.reused``).

``Ledger`` is made once per ``handle`` call and lives as long as it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from collections import Counter

from dialogue.runtime.actions import ActionCall, ActionOutcome, ActionRunner


def idempotency_key(session_id: str, message: str, call: ActionCall, occurrence: int) -> str:
    """The key of ``call``: the same for the same session, message, call site,
    arguments and occurrence (``sha256``, 32 hex digits)."""
    site = [session_id, message, call.flow, call.state, call.name, occurrence]
    arguments = json.dumps(call.arguments, sort_keys=True, ensure_ascii=False, default=repr)
    digest = hashlib.sha256(json.dumps([*site, arguments], ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


class Ledger:
    """The action calls of one ``handle`` call, across the turn's runs."""

    def __init__(self, session_id: str, message_id: str | None) -> None:
        self.session_id = session_id
        self._message = None if message_id is None else "m:" + message_id
        self._done: dict[str, ActionOutcome] = {}
        self._seen: Counter[str] = Counter()

    @property
    def message(self) -> str:
        """What keys are derived from: the message id, or one drawn for this call (when
        its first action is called: most turns call none, and drawing is a system call)."""
        if self._message is None:
            self._message = "h:" + secrets.token_hex(8)
        return self._message

    def restart(self) -> None:
        """The turn runs again (after a conflict): calls are counted from the start."""
        self._seen.clear()

    def keyed(self, call: ActionCall) -> ActionCall:
        """``call`` with its key."""
        key = idempotency_key(self.session_id, self.message, call, 0)
        self._seen[key] += 1
        occurrence = self._seen[key] - 1
        if occurrence:  # the same call again in this turn: another side effect
            key = idempotency_key(self.session_id, self.message, call, occurrence)
        return dataclasses.replace(call, key=key)

    def outcome(self, call: ActionCall, runner: ActionRunner) -> ActionOutcome:
        """Run ``call`` (from synchronous code), or give the outcome of its earlier run."""
        keyed = self.keyed(call)
        if (done := self._reuse(keyed)) is not None:
            return done
        return self._keep(keyed, runner.outcome(keyed))

    async def aoutcome(self, call: ActionCall, runner: ActionRunner) -> ActionOutcome:
        """``outcome`` for coroutines."""
        keyed = self.keyed(call)
        if (done := self._reuse(keyed)) is not None:
            return done
        return self._keep(keyed, await runner.aoutcome(keyed))

    def _reuse(self, call: ActionCall) -> ActionOutcome | None:
        done = self._done.get(call.key)
        return None if done is None else dataclasses.replace(done, reused=True, seconds=0.0)

    def _keep(self, call: ActionCall, outcome: ActionOutcome) -> ActionOutcome:
        outcome = dataclasses.replace(outcome, key=call.key)
        if outcome.ok:  # a failure may pass: a run again may try again
            self._done[call.key] = outcome
        return outcome
