"""Files that must survive a crash whole: small ones written aside, synced and renamed; append-only logs
appended to in whole records or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_text_durably(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: after a crash the file holds the old text or the new, never part of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_directory(path.parent)


def append_whole(fd: int, chunks: Iterable[bytes], end: int) -> None:
    """Append ``chunks`` to a file opened ``O_APPEND`` whose last whole record ends at ``end``, and sync.

    On any failure (a full disk, or ``chunks`` itself failing part way) the file is cut back to ``end`` before
    the error is raised, so a failed append leaves no torn bytes for the next one to land behind.
    """
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.ftruncate(fd, end)
        raise
