"""Moderator labels → the labelled-data store that ``chatguard train --data`` reads.

Rows are the fully-labelled JSONL form (``{"text", "categories"}``) plus provenance fields the
reader ignores. Each batch is appended with one write to a file opened in append mode and then
fsynced, so a crash loses no acknowledged label and concurrent workers do not interleave lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson


class LabelStore:
    """An append-only JSONL file of labelled rows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, labels: Sequence[dict[str, Any]]) -> int:
        """Append one row per moderator label; return how many were written."""
        if not labels:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = b"".join(orjson.dumps(_row(label)) + b"\n" for label in labels)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)
        return len(labels)


def _row(label: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": label["text"],
        "categories": sorted(set(label["categories"])),
        "source": "moderator",
        "event_id": label["event_id"],
        "moderator_id": label["moderator_id"],
        "labelled_at": label["labelled_at"],
    }
