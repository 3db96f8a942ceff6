"""A Faust windowed table on RocksDB that expires its keys by reading the disk, not a memory index.

Faust finds a windowed table's expired keys through an index in memory: per partition, a heap of
window ends with one entry per write, and per window the set of every key written in it. The
tables themselves are on disk, but that index held each key of the last two windows, 0.3 KB per
throwaway account struck for two days, and the heap 32 bytes per blocked message. Faust also
indexed only the keys a worker wrote itself: keys already on disk when a worker restarted, or
when a rebalance handed it a partition, never expired, so each restart left up to two windows of
the tables on disk for good.

Here the index keeps one heap entry per partition and window end. When a window expires, the
partition's database is read once and every key of an expired window deleted; when a partition's
recovery completes, its database is read once the same way, and the windows it holds are noted.
A read costs about 2 µs per stored key, once per window per partition (a day for the
strikes, a minute for sender activity), in slices between which other work runs. Tables not on
RocksDB keep Faust's own index.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from heapq import heappop, heappush
from typing import Any

import faust
import orjson
from faust.types import TP

# stored keys read between two yields to the event loop
_KEYS_PER_YIELD = 5_000


class WindowIndexTable(faust.Table):
    """``faust.Table`` whose windowed keys on RocksDB expire without a per-key index in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._window_ends: set[tuple[int, float]] = set()  # (partition, window end) on the heap
        self._read_dbs: dict[int, Any] = {}  # partition → the database read at its recovery

    def _on_disk(self) -> bool:
        return hasattr(self.data, "_dbs")  # a RocksDB store: one database per partition

    def _dbs(self) -> dict[int, Any]:
        return dict(getattr(self.data, "_dbs", {}))

    def _maybe_set_key_ttl(self, key: Any, partition: int) -> None:
        if not self._should_expire_keys():
            return
        if not self._on_disk():
            super()._maybe_set_key_ttl(key, partition)
            return
        self._note_window(partition, key[1][1])

    def _maybe_del_key_ttl(self, key: Any, partition: int) -> None:
        if not self._on_disk():
            super()._maybe_del_key_ttl(key, partition)

    def _note_window(self, partition: int, window_end: float) -> None:
        if (partition, window_end) in self._window_ends:
            return
        self._window_ends.add((partition, window_end))
        heappush(self._partition_timestamps[partition], window_end)
        latest = self._partition_latest_timestamp[partition]
        self._partition_latest_timestamp[partition] = max(latest, window_end)

    async def _del_old_keys(self) -> None:
        if not self._on_disk():
            await super()._del_old_keys()
            return
        for partition, window_ends in list(self._partition_timestamps.items()):
            expired = False
            while window_ends and self._stale(window_ends[0]):
                self._window_ends.discard((partition, heappop(window_ends)))
                expired = True
            db = self._dbs().get(partition)
            if expired and db is not None:
                await self._read_db(partition, db)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        if self._should_expire_keys() and self._on_disk():
            for partition, db in self._dbs().items():
                if self._read_dbs.get(partition) is not db:
                    await self._read_db(partition, db)
                    self._read_dbs[partition] = db

    async def _read_db(self, partition: int, db: Any) -> None:
        """Delete the keys of expired windows from one partition's database; note the others."""
        deleted = 0
        keys: Iterable[bytes] = db.keys()
        for count, raw_key in enumerate(keys):
            window_end = _window_end(raw_key)
            if window_end is None:
                pass
            elif self._stale(window_end):
                db.delete(raw_key)
                deleted += 1
            else:
                self._note_window(partition, window_end)
            if count % _KEYS_PER_YIELD == _KEYS_PER_YIELD - 1:
                await asyncio.sleep(0)
        if deleted:
            self.log.info("partition %d: %d keys of expired windows deleted", partition, deleted)

    def _stale(self, window_end: float) -> bool:
        window = self.window
        return window is not None and bool(window.stale(window_end, time.time()))


def _window_end(raw_key: bytes) -> float | None:
    """The window end of a stored key as Faust writes one (``[key, [start, end]]``), or None."""
    try:
        _, (_, end) = orjson.loads(raw_key)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    return float(end) if isinstance(end, (int, float)) else None
