"""The HTTP API's bodies as pydantic models: they are the OpenAPI document too.

Request bodies are strict (``"5"`` is not a rating, ``1`` is not a text) and
forbid unknown fields, so a client's mistake is a 422 that names the field, not
a guess.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dialogue.session import Feedback, Session
from dialogue.trace import HandoffInfo, Option, TurnResult

MAX_MESSAGE_ID = 200
MAX_USER = 200
MAX_COMMENT = 2000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MessageIn(_In):
    text: str = Field(description="What the user said (longer than the app's limit: 422).")
    message_id: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_ID)] | None = Field(
        default=None,
        description="The client's id for this message: sent again (a retry), it gets the "
        "first answer and changes nothing.",
    )
    language: Annotated[str, Field(min_length=2, max_length=35)] | None = Field(
        default=None,
        description="The conversation's language from this message on, one the flow "
        "speaks (``zh-CN`` names ``zh``); another: 422 ``unknown_language``.",
    )
    user: Annotated[str, Field(min_length=1, max_length=MAX_USER)] | None = Field(
        default=None,
        description="The host's key of the user (an account id): the turn's LLM call "
        "draws from that user's token budget for the period (``llm.user_budget``), shared "
        "by all of the user's sessions. Trusted as given: send it from your backend.",
    )


class EventIn(_In):
    name: str = Field(
        min_length=1, max_length=100, description="The event, as the flow declares it (events:)."
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="Slot values the event carries (its 'slots'), checked by each slot's type.",
    )
    message_id: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_ID)] | None = Field(
        default=None,
        description="The host's id for this event: sent again, it gets the first answer.",
    )


Stars = Annotated[int, Field(ge=1, le=5)]


class FeedbackIn(_In):
    turn: int = Field(ge=1, description="The turn rated (``turn`` of a message's answer).")
    rating: Literal["up", "down"] | Stars = Field(description="``up``/``down`` or 1 to 5.")
    comment: str = Field(default="", max_length=MAX_COMMENT)


class LineOut(BaseModel):
    role: Literal["user", "bot"]
    text: str


class HandoffOut(BaseModel):
    """What a person taking the conversation over needs (``dialogue.HandoffInfo``)."""

    reason: str = Field(description="Why (the handoff state's ``reason``; empty if none).")
    flow: str
    state: str = Field(description="The handoff state.")
    slots: dict[str, Any]
    transcript: list[LineOut] = Field(
        description="The latest turns, oldest first, as the session keeps its history "
        "(redacted when the engine runs with ``redact_history``)."
    )
    turn: int = Field(description="The turn that handed the conversation off.")
    meta: dict[str, Any]

    @classmethod
    def of(cls, info: HandoffInfo) -> HandoffOut:
        return cls.model_validate(info.to_dict(), from_attributes=False)


class OptionOut(BaseModel):
    """A quick reply offered with the last reply: show ``label``, send ``text``."""

    label: str
    text: str = Field(description="The message to send when it is chosen (as typed).")
    intent: str | None = Field(
        default=None, description="The intent it means, when it names one (text: /intent)."
    )

    @classmethod
    def of(cls, option: Option) -> OptionOut:
        return cls(label=option.label, text=option.text, intent=option.intent)


class TurnOut(BaseModel):
    """What one turn said and where the conversation is now."""

    session_id: str
    turn: int = Field(description="This turn's number: rate it with the feedback endpoint.")
    replies: list[str]
    options: list[OptionOut] = Field(
        default_factory=list,
        description="Quick replies (buttons) offered with the last reply; empty: none.",
    )
    flow: str
    state: str
    slots: dict[str, Any]
    ended: bool = Field(description="The conversation reached a final state (a handoff ...).")
    handoff: bool = Field(
        description="A person has the conversation: it reached a state with ``handoff`` "
        "(the bot answers no message until ``POST /v1/sessions/{id}/resume``), or it "
        "ended in a state the app counts as a handoff (``handoff_states``, default "
        "``handoff``)."
    )
    handoff_info: HandoffOut | None = Field(
        default=None,
        description="On the turn that handed the conversation off: the reason, the slots "
        "and a short transcript, for the person taking over.",
    )
    duplicate: bool = Field(description="A redelivered message_id: the first answer again.")
    language: str = Field(default="", description="The language of the replies.")
    trace: dict[str, Any] | None = Field(
        default=None, description="What fired and why (only when the app runs in debug mode)."
    )

    @classmethod
    def of(
        cls, result: TurnResult, *, debug: bool, handoff_states: Collection[str] = ("handoff",)
    ) -> TurnOut:
        t = result.trace
        return cls(
            session_id=result.session_id,
            turn=t.turn,
            replies=result.replies,
            options=[OptionOut.of(o) for o in result.options],
            flow=result.flow,
            state=result.state,
            slots=result.slots,
            ended=result.ended,
            handoff=result.handed_off or (result.ended and result.state in handoff_states),
            handoff_info=None if result.handoff is None else HandoffOut.of(result.handoff),
            duplicate=t.rule == "duplicate",
            language=result.language,
            trace=trace_data(result) if debug else None,
        )


class FeedbackOut(BaseModel):
    turn: int
    rating: str | int
    comment: str
    at: str

    @classmethod
    def of(cls, entry: Feedback) -> FeedbackOut:
        return cls(turn=entry.turn, rating=entry.rating, comment=entry.comment, at=entry.at)


class SessionOut(BaseModel):
    """A stored conversation."""

    session_id: str
    flow: str
    state: str
    slots: dict[str, Any]
    ended: bool
    handoff: bool = Field(description="A person has it (as in ``TurnOut``).")
    handoff_reason: str | None = Field(
        default=None, description="Why it was handed off, while a person has it."
    )
    turns: int = Field(description="How many turns it has had (the greeting is turn 1).")
    history: list[str] = Field(
        description="Alternating user text and bot reply, newest last, as far as the "
        "engine keeps it (``history_turns``)."
    )
    feedback: list[FeedbackOut]

    @classmethod
    def of(cls, session: Session, *, handoff_states: Collection[str] = ("handoff",)) -> SessionOut:
        return cls(
            session_id=session.id,
            flow=session.flow,
            state=session.state,
            slots=session.slots,
            ended=session.ended,
            handoff=session.handoff is not None
            or (session.ended and session.state in handoff_states),
            handoff_reason=None if session.handoff is None else session.handoff.reason,
            turns=session.turn,
            history=list(session.history),
            feedback=[FeedbackOut.of(f) for f in session.feedback],
        )


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, snake_case: what went wrong.")
    message: str
    details: list[dict[str, Any]] | None = Field(
        default=None, description="For invalid requests: each problem's location and message."
    )


class ErrorOut(BaseModel):
    """Every error response of the API has this body."""

    error: ErrorInfo


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok; degraded: rules answer but the LLM is off (its API key was "
        "rejected); unavailable: the session store does not answer (503)"
    )
    error: ErrorInfo | None = None


def trace_data(result: TurnResult) -> dict[str, Any]:
    """A turn's trace as JSON-ready data (debug mode)."""
    t = result.trace
    llm = t.llm
    return {
        "rule": t.rule,
        "intent": t.intent,
        "matched": t.matched,
        "state_before": f"{t.flow_before}.{t.state_before}",
        "state_after": f"{t.flow_after}.{t.state_after}",
        "steps": t.steps,
        "slot_changes": {k: [old, new] for k, (old, new) in t.slot_changes.items()},
        "actions": [{"name": a.name, "ok": a.ok, "error": a.error} for a in t.actions],
        "llm": None
        if llm is None
        else {
            "mode": llm.mode,
            "outcome": llm.outcome,
            "model": llm.model,
            "response_id": llm.response_id,
            "created": llm.created,
            "prompt_tokens": llm.prompt_tokens,
            "completion_tokens": llm.completion_tokens,
            "error": llm.error,
        },
        "errors": list(t.errors),
        "seconds": t.seconds,
    }
