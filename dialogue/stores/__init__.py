"""Session stores: where sessions live between turns.

A store is anything with the methods of ``SessionStore``; ``open_store(url)``
makes one from a URL:

- ``memory://`` — this process only (the default of the Python API);
- ``sqlite:///path/to/bot.db`` — a file: persistent, one host, many processes;
- ``redis://host:port/db`` — many workers, processes and hosts (extra ``[redis]``);
- any other scheme names a third-party store, registered in the entry-point group
  ``dialogue.stores`` (``scheme = "package.module:factory"``, called as
  ``factory(url, **options)``), loaded only when its scheme is named.

Options come as keyword arguments or in the query string (``?ttl=3600``).
"""

from typing import Any

from dialogue.stores.base import (
    AsyncFoldingStore,
    AsyncLeasingStore,
    AsyncSessionStore,
    AsyncTokenStore,
    FoldingStore,
    LeasingStore,
    ListingStore,
    SessionStore,
    TokenStore,
)
from dialogue.stores.memory import MemoryStore


def open_store(url: str, **options: Any) -> Any:
    """A session store for ``url`` (see the module docstring); ``ConfigurationError``
    says what to fix. ``dialogue.stores.url`` is imported on the first call."""
    from dialogue.stores.url import open_store as open_url

    return open_url(url, **options)


__all__ = [
    "AsyncFoldingStore",
    "AsyncLeasingStore",
    "AsyncSessionStore",
    "AsyncTokenStore",
    "FoldingStore",
    "LeasingStore",
    "ListingStore",
    "MemoryStore",
    "SessionStore",
    "TokenStore",
    "open_store",
]
