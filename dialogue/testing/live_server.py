"""An ASGI app served by a real uvicorn on a free loopback port, in a thread.

::

    with LiveServer(create_app(engine)) as live:
        httpx.get(live.url + "/healthz")

The socket is bound before uvicorn starts (port 0: the system picks a free one),
so there is no race for the port; ``__enter__`` returns once uvicorn answers.
Needs the ``[server]`` extra (uvicorn), imported here, not by ``dialogue.testing``.

For a server in another process (``dialogue serve``): `free_port` and
`clean_environment`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType
from typing import Any


def free_port() -> int:
    """A loopback port free right now (another process may take it before it is used)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without OPENAI_* and DIALOGUE_* variables, plus ``extra``:
    a child server then runs offline and with its default settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DIALOGUE_"))}
    return {**env, **extra}


class LiveServer:
    def __init__(self, app: Any, *, startup_timeout: float = 60.0) -> None:
        import uvicorn

        self.app = app
        self._timeout = startup_timeout
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn stopped while starting (see its log)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {self._timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
