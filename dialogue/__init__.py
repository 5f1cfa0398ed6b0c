"""dialogue: rule-plus-LLM dialogue management."""

from dialogue.errors import (
    ActionError,
    ActionTimeout,
    ConfigurationError,
    ConflictError,
    DialogueError,
    FlowError,
    FlowErrors,
    SessionError,
    StoreError,
)

__all__ = [
    "ActionError",
    "ActionTimeout",
    "ConfigurationError",
    "ConflictError",
    "DialogueError",
    "FlowError",
    "FlowErrors",
    "SessionError",
    "StoreError",
]
