"""dialogue: rule-plus-LLM dialogue management.

Flows written in YAML are validated, compiled into state machines, and run by
an ``Engine`` that answers each message with rules first::

    import dialogue

    engine = dialogue.Engine.from_path("flows/customer_service.yaml")
    result = engine.handle("session-1", "where is my order AB123456?")
    result.replies, result.state, result.slots, result.trace
"""

import typing as _typing

from dialogue.engine import Engine
from dialogue.errors import (
    ActionError,
    ActionTimeout,
    ConfigurationError,
    ConflictError,
    Diagnostic,
    DialogueError,
    EventError,
    FeedbackError,
    FlowError,
    FlowErrors,
    LeaseTimeout,
    LLMKeyRejected,
    MissingExtra,
    SessionError,
    SessionNotFound,
    StoreError,
)
from dialogue.llm.openai_client import OpenAIChatClient
from dialogue.llm.protocol import (
    LLMClient,
    LLMFailure,
    LLMRequest,
    LLMResponse,
    LLMSettings,
    LLMStream,
    Usage,
)
from dialogue.redact import RedactingFilter, Redactor
from dialogue.runtime.compiled import Bot, CompiledFlow
from dialogue.runtime.streaming import Delta, TurnStream
from dialogue.session import Session
from dialogue.stores import AsyncSessionStore, MemoryStore, SessionStore
from dialogue.trace import HandoffInfo, Option, Trace, TranscriptLine, TurnResult

if _typing.TYPE_CHECKING:
    from dialogue.authoring.loader import load_flow, load_flows, parse_flow
    from dialogue.compiler.build import compile_flows

__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "ActionTimeout",
    "AsyncSessionStore",
    "Bot",
    "CompiledFlow",
    "ConfigurationError",
    "ConflictError",
    "Delta",
    "Diagnostic",
    "DialogueError",
    "Engine",
    "EventError",
    "FeedbackError",
    "FlowError",
    "FlowErrors",
    "HandoffInfo",
    "LLMClient",
    "LLMFailure",
    "LLMKeyRejected",
    "LLMRequest",
    "LLMResponse",
    "LLMSettings",
    "LLMStream",
    "LeaseTimeout",
    "MemoryStore",
    "MissingExtra",
    "OpenAIChatClient",
    "Option",
    "RedactingFilter",
    "Redactor",
    "Session",
    "SessionError",
    "SessionNotFound",
    "SessionStore",
    "StoreError",
    "Trace",
    "TranscriptLine",
    "TurnResult",
    "TurnStream",
    "Usage",
    "compile_flows",
    "load_flow",
    "load_flows",
    "parse_flow",
]


# The authoring and compile stages (and PyYAML) load when one of these is first
# named, or when Engine.from_path loads a flow: not at ``import dialogue``.
_LAZY = {
    "compile_flows": "dialogue.compiler.build",
    "load_flow": "dialogue.authoring.loader",
    "load_flows": "dialogue.authoring.loader",
    "parse_flow": "dialogue.authoring.loader",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dialogue' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
