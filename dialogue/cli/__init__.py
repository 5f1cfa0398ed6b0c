"""``dialogue validate | chat | schema | graph | test | eval``: thin commands over the API."""

from dialogue.cli.main import main

__all__ = ["main"]
