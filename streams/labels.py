"""Moderator labels → the labelled-data store that ``chatguard train --data`` reads.

Rows are the fully-labelled JSONL form (``{"text", "categories"}``) plus provenance fields the
reader ignores. Each batch is appended under an exclusive lock to a file opened in append mode,
written whole (``os.write`` may write less than it was given) and fsynced, so a crash loses no
acknowledged label and concurrent workers do not interleave lines. A batch that cannot be written
whole (a full disk, an I/O error) is cut back off the file and raises :class:`LabelStoreError`:
the file never keeps half a line, and the caller keeps the batch to write again later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

Write = Callable[[int, bytes], int]


class LabelStoreError(OSError):
    """A batch of labels could not be written whole; nothing of it stays in the file."""


class LabelStore:
    """An append-only JSONL file of labelled rows."""

    def __init__(self, path: Path, write: Write = os.write) -> None:
        self.path = path
        self._write = write  # os.write; tests pass one that writes less, as a kernel may

    def append(self, labels: Sequence[dict[str, Any]]) -> int:
        """Append one row per moderator label; return how many were written.

        Raises ``LabelStoreError`` (an ``OSError``) with the reason, never naming the path, when
        the batch could not be written whole."""
        if not labels:
            return 0
        lines = b"".join(orjson.dumps(_row(label)) + b"\n" for label in labels)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _error(exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # other workers' appends wait: a cut-back is ours
            start = os.fstat(fd).st_size
            try:
                self._write_all(fd, lines)
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # e.g. a device file cannot be truncated
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                raise _error(exc) from exc
        finally:
            os.close(fd)  # releases the lock
        return len(labels)

    def _write_all(self, fd: int, data: bytes) -> None:
        while data:
            written = self._write(fd, data)
            if written <= 0:  # the kernel took nothing and said nothing: treat it as a full disk
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            data = data[written:]


def _error(exc: OSError) -> LabelStoreError:
    """The reason without the file name (it goes to /ready and logs)."""
    code = errno.errorcode.get(exc.errno or 0, "error")
    return LabelStoreError(exc.errno, f"{code}: {exc.strerror or exc}")


def _row(label: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": label["text"],
        "categories": sorted(set(label["categories"])),
        "source": "moderator",
        "event_id": label["event_id"],
        "moderator_id": label["moderator_id"],
        "labelled_at": label["labelled_at"],
    }
