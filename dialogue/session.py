"""The per-session state: plain, JSON-serialisable data.

A session holds where the conversation is (flow, state, the slot being asked,
counters, the stack of calling flows) and what it knows (slots, a bounded
history). It never holds compiled objects: those are shared by every session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from dialogue.errors import FeedbackError, SessionError, SessionNotFound

if TYPE_CHECKING:
    import datetime

FORMAT = 1
"""Version of the serialised form; bumped when ``to_dict`` changes shape."""


class Frame(NamedTuple):
    """A calling flow on the stack: where to resume when the sub-flow it called ends."""

    flow: str
    state: str
    step: int
    pending: str | None


class Feedback(NamedTuple):
    """A user's rating of one turn's replies: ``up``/``down`` or 1 to 5, and a comment."""

    turn: int
    rating: str | int
    comment: str
    at: str
    """When it was given (ISO 8601, from the engine's clock)."""


class HandoffMark(NamedTuple):
    """A person has the conversation: why, where it was handed off, and at which turn.
    The engine answers none of the session's messages until the host resumes it."""

    reason: str
    flow: str
    state: str
    turn: int


MAX_FEEDBACK = 100
"""How many ratings a session keeps (newest last); one per turn, the latest wins."""


@dataclass(slots=True)
class Session:
    id: str
    flow: str
    state: str
    slots: dict[str, Any] = field(default_factory=dict)
    pending: str | None = None
    """The slot whose question was just asked."""
    attempts: int = 0
    """Invalid answers to the pending slot so far."""
    no_match: int = 0
    """Consecutive turns nothing matched."""
    step: int = 0
    """Progress inside the current state: 0 collecting, 1 action called, 2 sub-flow done,
    3 ``next`` evaluated (waiting for a message)."""
    stack: tuple[Frame, ...] = ()
    """Calling flows, innermost last: where each resumes when its sub-flow ends."""
    turn: int = 0
    tokens: int = 0
    """LLM tokens this session has spent (prompt + completion)."""
    history: tuple[str, ...] = ()
    """Alternating user text and bot reply (replies joined by a newline), newest last."""
    ended: bool = False
    version: int = 0
    """How many times the store has saved this session (optimistic locking)."""
    meta: dict[str, Any] | None = None
    """Free data of the embedding code (channel, user id ...); never read by the engine."""
    fingerprint: str = ""
    """The compiled flows this session was last saved with (``Bot.fingerprint``): when it
    differs at load, the engine checks the session still fits the flows."""
    answered: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The latest message ids handled and their replies, newest last: a message
    redelivered with the same id gets the first answer again, and changes nothing."""
    feedback: tuple[Feedback, ...] = ()
    """Ratings of this session's turns (``Engine.feedback``), oldest first."""
    llm_failures: int = 0
    """LLM calls that failed in a row (``fallback.max_failures``); a turn without a
    failed call resets it. Failures are not attempts: ``attempts`` and ``no_match``
    do not count them."""
    handoff: HandoffMark | None = None
    """Set when the conversation reached a handoff state; cleared by ``Engine.resume``."""
    language: str | None = None
    """The language the conversation is in (one the flow speaks); ``None``: not set
    yet, the flow's default language speaks (set by the host, detected, or switched
    by the user: see ``docs/flow-format.md``, Languages)."""

    def rate(self, entry: Feedback) -> None:
        """Keep ``entry``, replacing an earlier rating of the same turn."""
        kept = tuple(f for f in self.feedback if f.turn != entry.turn)
        self.feedback = (*kept, entry)[-MAX_FEEDBACK:]

    def copy(self) -> Session:
        """A copy safe to mutate during a turn (slot values are treated as immutable)."""
        return Session(
            self.id,
            self.flow,
            self.state,
            dict(self.slots),
            self.pending,
            self.attempts,
            self.no_match,
            self.step,
            self.stack,
            self.turn,
            self.tokens,
            self.history,
            self.ended,
            self.version,
            dict(self.meta) if self.meta else None,
            self.fingerprint,
            self.answered,
            self.feedback,
            self.llm_failures,
            self.handoff,
            self.language,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "flow": self.flow,
            "state": self.state,
            "slots": self.slots,
            "pending": self.pending,
            "attempts": self.attempts,
            "no_match": self.no_match,
            "step": self.step,
            "stack": [list(frame) for frame in self.stack],
            "turn": self.turn,
            "tokens": self.tokens,
            "history": list(self.history),
            "ended": self.ended,
            "version": self.version,
            "meta": self.meta or {},
            "fingerprint": self.fingerprint,
            "answered": [[mid, list(replies)] for mid, replies in self.answered],
            "feedback": [f._asdict() for f in self.feedback],
            "llm_failures": self.llm_failures,
            "handoff": None if self.handoff is None else self.handoff._asdict(),
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SessionError("stored session has an unknown format", session_id=_id_of(data))
        try:
            return cls(
                id=str(data["id"]),
                flow=str(data["flow"]),
                state=str(data["state"]),
                slots=dict(data["slots"]),
                pending=data["pending"],
                attempts=int(data["attempts"]),
                no_match=int(data["no_match"]),
                step=int(data["step"]),
                stack=tuple(Frame(*frame) for frame in data["stack"]),
                turn=int(data["turn"]),
                tokens=int(data.get("tokens", 0)),
                history=tuple(map(str, data["history"])),
                ended=bool(data["ended"]),
                version=int(data["version"]),
                meta=dict(data["meta"]) if data.get("meta") else None,
                fingerprint=str(data.get("fingerprint", "")),
                answered=tuple(
                    (str(mid), tuple(map(str, replies)))
                    for mid, replies in data.get("answered", ())
                ),
                feedback=tuple(_feedback(item) for item in data.get("feedback", ())),
                llm_failures=int(data.get("llm_failures", 0)),
                handoff=_handoff(data.get("handoff")),
                language=_language(data.get("language")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionError(
                f"stored session is corrupt: {exc!r}", session_id=_id_of(data)
            ) from exc


RATINGS = ("up", "down", 1, 2, 3, 4, 5)


def rated(
    stored: Session | None,
    session_id: str,
    turn: int,
    rating: str | int,
    comment: str,
    now: datetime.datetime,
) -> tuple[Session, Feedback]:
    """``stored`` with a rating of its turn ``turn`` kept, and the rating; raises
    ``SessionNotFound`` or ``FeedbackError`` (what ``Engine.feedback`` says)."""
    if stored is None:
        raise SessionNotFound(f"no session {session_id!r}", session_id=session_id)
    if isinstance(rating, bool) or rating not in RATINGS:
        raise FeedbackError(
            f"rating {rating!r} is neither 'up', 'down' nor 1 to 5", session_id=session_id
        )
    if isinstance(turn, bool) or not isinstance(turn, int) or not 1 <= turn <= stored.turn:
        raise FeedbackError(
            f"session {session_id!r} has had turns 1 to {stored.turn}, not {turn!r}",
            session_id=session_id,
        )
    entry = Feedback(turn, rating, str(comment), now.isoformat(timespec="seconds"))
    stored.rate(entry)
    return stored, entry


def _feedback(item: dict[str, Any]) -> Feedback:
    rating = item["rating"]
    return Feedback(
        int(item["turn"]),
        rating if isinstance(rating, int) else str(rating),
        str(item["comment"]),
        str(item["at"]),
    )


def _handoff(item: dict[str, Any] | None) -> HandoffMark | None:
    """A stored handoff mark (sessions saved before handoffs existed have none)."""
    if item is None:
        return None
    return HandoffMark(
        str(item["reason"]), str(item["flow"]), str(item["state"]), int(item["turn"])
    )


def _language(value: object) -> str | None:
    """A stored language code; sessions saved before languages have none."""
    return None if value is None else str(value)


def _id_of(data: object) -> str:
    return str(data.get("id", "")) if isinstance(data, dict) else ""
