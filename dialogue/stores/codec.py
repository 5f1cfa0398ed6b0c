"""Sessions as JSON text, the form the SQLite and Redis stores keep them in.

Encoding is the standard library's, with encoders made once (``json.dumps`` with
options makes a new one per call): it refuses what is not JSON data (a set, a
datetime), where a more lenient encoder would store it as something else and a
load would give back another type. Decoding is pydantic-core's (a dependency
already), about twice as fast as ``json.loads`` and as strict; it raises
``ValueError`` for text that is not JSON, as ``json.loads`` does.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_STRICT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(data: Any, *, allow_nan: bool = True) -> str:
    """Compact JSON text, non-ASCII kept; ``TypeError``/``ValueError`` if ``data`` is
    not JSON data (with ``allow_nan=False`` also for NaN and infinities)."""
    return (_ENCODER if allow_nan else _STRICT).encode(data)


def loads(text: str | bytes) -> Any:
    """The data of JSON ``text``; ``ValueError`` if it is not JSON."""
    return from_json(text)
