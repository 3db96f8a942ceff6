"""Room on the data disk: stateful agents wait for it instead of writing into a full disk.

Faust's tables, the recent-events store and the campaign fold write RocksDB files under
``CHATGUARD_DATA_DIR``. On a full disk RocksDB's ``No space left on device`` reached Faust's
own changelog callback, which stopped the table and with it the worker, 12 s after the first
error; restarted on the same disk it stopped again within 8 s (probed from outside). So before
a stateful agent handles a batch it checks the free space; under ``CHATGUARD_DATA_MIN_FREE_MB``
it holds the batch (unacked: the records stay in Kafka), says so on ``/ready`` and in the
metrics, and goes on once there is room. Moderation decisions need no disk and keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from streams import metrics

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0  # while waiting; checking costs one statvfs call
LOG_EVERY_S = 60.0


class DiskRoom:
    """Free space on the file system holding ``path``, against ``min_free_mb``."""

    def __init__(self, path: Path, min_free_mb: int) -> None:
        self.path = Path(path)
        self.min_free_mb = min_free_mb
        self.problem: str | None = None  # shown on /ready while agents wait

    def shortage(self) -> str | None:
        """Why there is not room enough, or None. A path not created yet is on its parent's
        file system."""
        if self.min_free_mb <= 0:
            return None
        path = self.path
        while not path.exists() and path != path.parent:
            path = path.parent
        info = os.statvfs(path)
        free_mb = info.f_bavail * info.f_frsize / 1_048_576
        if free_mb >= self.min_free_mb:
            return None
        return (
            f"the data disk has {free_mb:,.0f} MB free, under the {self.min_free_mb:,} MB "
            "CHATGUARD_DATA_MIN_FREE_MB keeps; stateful agents wait"
        )

    async def wait(self) -> None:
        """Return once there is room; meanwhile ``problem`` says why not."""
        logged_at = float("-inf")
        while (shortage := self.shortage()) is not None:
            if self.problem is None or time.monotonic() - logged_at >= LOG_EVERY_S:
                log.error("%s", shortage)
                logged_at = time.monotonic()
            self.problem = shortage
            metrics.DATA_DISK_OK.set(0)
            await asyncio.sleep(CHECK_EVERY_S)
        if self.problem is not None:
            log.warning("the data disk has room again; stateful agents go on")
        self.problem = None
        metrics.DATA_DISK_OK.set(1)
