"""``dialogue serve PATH``: the HTTP API of a flow, run by uvicorn."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import click

from dialogue.cli.common import compile_or_exit
from dialogue.errors import DialogueError

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_store(path: str) -> str:
    """A SQLite file beside the flow: a restart keeps every conversation."""
    db = Path(path).resolve().with_suffix(".sessions.db")
    return "sqlite:///" + quote(str(db))


def refuse(message: str, hint: str) -> NoReturn:
    click.echo(f"error: {message}\n    hint: {hint}", err=True)
    sys.exit(2)


@click.command("serve")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Where sessions live (default: sqlite:/// a file beside the flow); "
    "redis://... to share them between workers and hosts.",
)
@click.option(
    "--token",
    envvar="DIALOGUE_TOKEN",
    default=None,
    help="Every API call needs 'Authorization: Bearer TOKEN' (or set DIALOGUE_TOKEN, "
    "which 'ps' does not show).",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without a token.")
@click.option("--debug", is_flag=True, help="Answers carry each turn's trace.")
@click.option("--cors-origin", "cors", multiple=True, help="An origin browsers may call from.")
@click.option(
    "--access-log",
    is_flag=True,
    help="Log every request (its path shows the session id, a key to the conversation).",
)
def serve(
    path: str,
    host: str,
    port: int,
    store_url: str | None,
    token: str | None,
    workers: int,
    insecure: bool,
    debug: bool,
    cors: tuple[str, ...],
    access_log: bool,
) -> None:
    """Serve a flow over HTTP (see docs/server.md)."""
    try:
        import uvicorn
    except ImportError:
        refuse("dialogue serve needs uvicorn and FastAPI", "pip install 'dialogue[server]'")
    if not token and not insecure and not is_loopback(host):
        refuse(
            f"refusing to serve on {host} without a token: anyone who can reach it could "
            "read and erase conversations",
            "set DIALOGUE_TOKEN (or --token), or pass --insecure if something in front "
            "of it checks who calls",
        )
    store = store_url or default_store(path)
    if workers > 1 and store.startswith("memory:"):
        refuse(
            "memory:// keeps sessions in one process", "use sqlite:/// or redis:// with --workers"
        )
    compile_or_exit(path)  # flow errors as file:line:col, before binding anything
    os.environ.update(
        DIALOGUE_FLOW=str(Path(path).resolve()),
        DIALOGUE_STORE=store,
        DIALOGUE_DEBUG="1" if debug else "0",
        DIALOGUE_CORS_ORIGINS=",".join(cors),
    )
    if token:
        os.environ["DIALOGUE_TOKEN"] = token
    else:
        os.environ.pop("DIALOGUE_TOKEN", None)
    if workers == 1:
        from dialogue.server.app import app_from_env

        try:
            app = app_from_env()
        except DialogueError as exc:
            refuse(str(exc), "check the flow's actions and the store URL")
        uvicorn.run(app, host=host, port=port, access_log=access_log)
    else:
        serve_workers(uvicorn, host, port, workers, access_log)


def serve_workers(uvicorn: Any, host: str, port: int, workers: int, access_log: bool) -> None:
    """N worker processes; their metrics meet in a directory of their own (removed after)."""
    shared = tempfile.mkdtemp(prefix="dialogue-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
    try:
        uvicorn.run(
            "dialogue.server.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
        )
    finally:
        shutil.rmtree(shared, ignore_errors=True)
