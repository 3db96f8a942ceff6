"""Moderator labels → the labelled-data store that ``chatguard train --data`` reads.

Rows are the fully-labelled JSONL form (``{"text", "categories"}``) plus provenance fields the
reader ignores. Each batch is appended under an exclusive lock to a file opened in append mode,
written whole (``os.write`` may write less than it was given) and fsynced, so a crash loses no
acknowledged label and concurrent workers do not interleave lines. A batch that cannot be written
whole (a full disk, an I/O error) is cut back off the file and raises :class:`LabelStoreError`:
the file never keeps half a line, and the caller keeps the batch to write again later.

A label already in the file (the same event, moderator and time: its signed record sent again)
is not written twice. A signed record stays valid, so anyone who can read the labels topic can
send it again: 20,000 copies of one label in 15 s were 20,000 rows (4 MB) before. The store
reads what other workers appended since its last look under the same lock, so the check holds
across the fleet and across restarts, for workers that share the file. A new or cut-back file
holds no record of what was sent before, so labels reach it only within
``CHATGUARD_LABEL_MAX_AGE_S`` of their signed time (``streams.pipeline``). Training keeps one
label per event as well (``training.labelled_data.latest_label_per_event``).
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
        self._stored: set[tuple[object, ...]] = set()  # keys of the rows in the file
        self._read_to = 0  # how far the file has been read into ``_stored``
        self._file = (0, 0)  # the device and inode read into ``_stored``

    def append(self, labels: Sequence[dict[str, Any]]) -> int:
        """Append one row per moderator label not in the file yet; return how many were written.

        Raises ``LabelStoreError`` (an ``OSError``) with the reason, never naming the path, when
        the batch could not be written whole."""
        if not labels:
            return 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _error(exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # other workers' appends wait: a cut-back is ours
            stat = os.fstat(fd)
            start = stat.st_size
            try:
                self._read_stored(fd, start, (stat.st_dev, stat.st_ino))
            except OSError as exc:
                raise _error(exc) from exc
            rows: dict[tuple[object, ...], dict[str, Any]] = {}
            for label in labels:
                row = _row(label)
                rows.setdefault(_key(row), row)
            fresh = {key: row for key, row in rows.items() if key not in self._stored}
            lines = b"".join(orjson.dumps(row) + b"\n" for row in fresh.values())
            try:
                self._write_all(fd, lines)
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # e.g. a device file cannot be truncated
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                raise _error(exc) from exc
            self._stored.update(fresh)
            self._read_to = start + len(lines)
        finally:
            os.close(fd)  # releases the lock
        return len(fresh)

    def _read_stored(self, fd: int, size: int, file: tuple[int, int]) -> None:
        """Add the keys of the rows appended since the last look (by any worker) to ``_stored``."""
        if file != self._file or size < self._read_to:  # another file, or cut: read it anew
            self._stored.clear()
            self._read_to = 0
            self._file = file
        while self._read_to < size:
            chunk = os.pread(fd, min(size - self._read_to, 1 << 20), self._read_to)
            if not chunk:
                break
            end = chunk.rfind(b"\n") + 1 if len(chunk) < size - self._read_to else len(chunk)
            if end == 0:  # one line longer than the chunk: read it whole
                end = len(chunk := os.pread(fd, size - self._read_to, self._read_to))
            for line in chunk[:end].splitlines():
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                    self._stored.add(_key(orjson.loads(line)))
            self._read_to += end

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


def _key(row: dict[str, Any]) -> tuple[object, ...]:
    """What makes a stored label the same label: its event, moderator and time (all signed)."""
    return (row["event_id"], row["moderator_id"], row["labelled_at"])


def _row(label: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": label["text"],
        "categories": sorted(set(label["categories"])),
        "source": "moderator",
        "event_id": label["event_id"],
        "moderator_id": label["moderator_id"],
        "labelled_at": label["labelled_at"],
    }
