"""Reading a file a flow is made of (a flow, a prompt, a knowledge text), safely.

Only regular files are read: a path naming a directory, a FIFO, a socket or a
device (``/dev/zero``) is refused before it is opened, so loading never hangs
on a pipe nor reads without end. The size is checked (``stat``) before
reading, and reading stops one byte past the limit in case the file grew.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``.

    Raises ``FileNotFoundError`` / ``OSError`` as the system does, ``IsADirectoryError``
    for a directory, ``ValueError("is a FIFO (named pipe), not a regular file")``
    for other non-regular files, and ``OverflowError(size)`` when it has more
    than ``max_bytes`` bytes (checked before reading).
    """
    before = os.stat(path)  # before opening: opening a device may do something
    _check(before.st_mode, before.st_size, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)  # O_NONBLOCK: a FIFO swapped in meanwhile cannot block
    try:
        info = os.fstat(fd)
        _check(info.st_mode, info.st_size, max_bytes)
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 16, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise OverflowError(size)
    return b"".join(chunks)


def _check(mode: int, size: int, max_bytes: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory")
    if not stat.S_ISREG(mode):
        raise ValueError(f"is {kind_of(mode)}, not a regular file")
    if size > max_bytes:
        raise OverflowError(size)
