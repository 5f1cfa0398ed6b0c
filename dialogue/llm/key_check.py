"""A rejected API key is a configuration problem: said once, and not sent again.

When the LLM API answers 401 or 403, the key (or its access to the model) is wrong,
and every later request with it would be refused the same way. `KeyCheck` keeps
that answer: the first one is logged as an ERROR (once, however many requests
were in flight), later calls fail at once with kind ``"auth"`` and send nothing,
and the host sees it (``Engine.check_health()`` raises `LLMKeyRejected`; the
server's ``/healthz`` says ``degraded``). Rules keep working: an unmatched message
gets the flow's failure reply, as for any failed LLM call.

It ends when the key changes (``OpenAIChatClient.set_api_key``) or when the host
says to try again (``OpenAIChatClient.reset_key_check()``, e.g. after fixing the
account's access to the model).
"""

from __future__ import annotations

import logging
import threading
import time

from dialogue.errors import LLMKeyRejected
from dialogue.llm.answers import failed
from dialogue.llm.protocol import LLMFailure, LLMRequest, LLMResponse

log = logging.getLogger("dialogue.llm")

HINT = (
    "set a valid key (OpenAIChatClient.set_api_key, or OPENAI_API_KEY and a restart), or "
    "call OpenAIChatClient.reset_key_check() once the key has access to the model"
)


def key_rejected(failure: LLMFailure) -> LLMKeyRejected:
    """The error a health check raises for ``failure``."""
    return LLMKeyRejected(f"the LLM API rejected the API key: {failure.message}", hint=HINT)


class KeyCheck:
    """What the API said of the current key: nothing yet, or a 401/403."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rejected: LLMFailure | None = None

    @property
    def rejected(self) -> LLMFailure | None:
        """The 401/403 failure that stopped the requests, or None."""
        return self._rejected

    def blocked(self, request: LLMRequest) -> LLMResponse | None:
        """A failed response for a request not sent because the key was rejected, or None."""
        rejected = self._rejected
        if rejected is None:
            return None
        message = f"not sent: the API key was rejected earlier ({rejected.message})"
        return failed(request, time.perf_counter(), LLMFailure("auth", message, rejected.status))

    def seen(self, response: LLMResponse) -> LLMResponse:
        """Note ``response``'s failure if it is a 401/403; ``response`` unchanged."""
        failure = response.failure
        if failure is not None and failure.kind == "auth" and failure.status in (401, 403):
            with self._lock:
                first, self._rejected = self._rejected is None, failure
            if first:  # the status only: an endpoint's error body is not redacted here
                log.error(
                    "LLM API key rejected (HTTP %s), no more LLM requests are sent with it "
                    "(Engine.check_health() says what the API answered); %s",
                    failure.status,
                    HINT,
                )
        return response

    def reset(self) -> None:
        """Forget the rejection: the next call sends its request."""
        with self._lock:
            self._rejected = None
