"""The JSON reports the CLI and the pytest plugin write: UTF-8, read back as written.

Non-ASCII text is kept as it is, so a report reads well; a string UTF-8 cannot
hold (a lone surrogate, which a test spec's YAML can spell as ``"\\ud800"``) makes
the whole report ASCII with ``\\u`` escapes instead of failing to write. Other line
breaks (U+0085, U+2028, U+2029) need nothing: JSON keeps them as they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def json_text(data: Any) -> str:
    """``data`` as indented JSON text ending in a newline, always encodable as UTF-8."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, indent=2) + "\n"
    return text


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` to ``path`` as UTF-8 JSON (whatever the locale)."""
    Path(path).write_text(json_text(data), encoding="utf-8")
