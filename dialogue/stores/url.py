"""Store URLs: ``open_store(url)`` and the options of a URL's query string."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from dialogue.errors import ConfigurationError

BUILTIN = {
    "memory": "dialogue.stores.memory:MemoryStore.from_url",
    "sqlite": "dialogue.stores.sqlite:SQLiteStore.from_url",
    "redis": "dialogue.stores.redis:RedisStore.from_url",
    "rediss": "dialogue.stores.redis:RedisStore.from_url",
}
"""Scheme -> where its factory lives, imported only when the scheme is used."""

EXAMPLES = "memory://, sqlite:///bot.db, redis://localhost:6379/0"
GROUP = "dialogue.stores"


def shown(url: str) -> str:
    """``url`` as messages show it: a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def query_options(url: str, numbers: tuple[str, ...] = ("ttl",)) -> dict[str, Any]:
    """The options in a store URL's query string (``?ttl=3600``); ``numbers`` are floats."""
    options: dict[str, Any] = {}
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key in numbers:
            try:
                options[key] = float(value)
            except ValueError:
                raise ConfigurationError(
                    f"store URL {shown(url)!r}: {key}={value!r} is not a number",
                    hint=f"for example ?{key}=3600 (seconds)",
                ) from None
        else:
            options[key] = value
    return options


def open_store(url: str, **options: Any) -> Any:
    """A session store for ``url``; ``ConfigurationError`` says what to fix when the
    URL is wrong or the store's extra is not installed."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if not scheme:
        raise ConfigurationError(
            f"store URL {shown(url)!r} has no scheme", hint=f"write it like one of {EXAMPLES}"
        )
    target = BUILTIN.get(scheme) or _entry_point(scheme)
    if target is None:
        raise ConfigurationError(
            f"no session store for the scheme {scheme!r} in {shown(url)!r}",
            hint=f"use one of {EXAMPLES}, or install the package that registers "
            f"'{scheme}' in the entry-point group '{GROUP}'",
        )
    factory = _load(target, scheme)
    return factory(url, **options)


def _entry_point(scheme: str) -> str | None:
    from importlib.metadata import entry_points

    found = entry_points(group=GROUP, name=scheme)
    return next((ep.value for ep in found), None)


def _load(target: str, scheme: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or module_name
        if missing == "dialogue" or missing.startswith("dialogue."):
            raise  # a module of this package failed to import: a bug, not a missing extra
        extra = "redis" if scheme.startswith("redis") else ""
        hint = f"pip install 'dialogue[{extra}]'" if extra else f"install {missing}"
        raise ConfigurationError(
            f"the {scheme}:// store needs a package that is not installed: {missing}",
            hint=hint,
        ) from exc
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
