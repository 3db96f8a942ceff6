"""A Faust table whose expiry index grows with the keys of a window, not with every write.

Faust finds a windowed table's expired keys through an index in memory: for each partition, a
heap of window ends, and per partition and window end the set of keys written in it. Faust
pushed the window end onto the heap at every write, so the heap held one entry per write until
its window expired: at 100 blocked messages a second, the strikes table's heap alone held 17
million entries (32 bytes each) over its two 24 h windows, on a worker that otherwise holds its
tables on disk. One entry per partition and window end is all the expiry needs: it pops a window
end and drops every key of that window at once. Each key also carried its own copy of the
window's (start, end) pair; the keys of one window now share one, 185 instead of 297 bytes per
key (``tests/unit/test_window_index.py``).

Faust also indexed only the keys a worker wrote itself: keys already in a partition's RocksDB when
the worker opened it (after a restart, or a partition handed over in a rebalance) never expired,
so each restart left a day or two of an account table on disk for good. Once a partition's
recovery completes, its stored keys are read once: expired windows go, live ones are indexed.
"""

from __future__ import annotations

import asyncio
import time
from heapq import heappush
from typing import Any

import faust
import orjson
from faust.types import TP

# keys read between two yields to the event loop while a partition's stored keys are indexed
_KEYS_PER_YIELD = 5_000


class WindowIndexTable(faust.Table):
    """``faust.Table``, with one heap entry per partition and window end, and stored keys indexed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexed_dbs: dict[int, Any] = {}  # partition → the RocksDB its stored keys came from

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        if self._should_expire_keys():
            await self._index_stored_keys()

    async def _index_stored_keys(self) -> None:
        """Index the keys of each partition database opened since the last recovery."""
        open_dbs = dict(getattr(self.data, "_dbs", {}))  # absent: not a RocksDB store
        for partition, db in open_dbs.items():
            if self._indexed_dbs.get(partition) is db:
                continue
            expired = 0
            for count, raw_key in enumerate(db.keys()):
                key = _window_key(raw_key)
                if key is None:
                    continue
                if self.window.stale(key[1][1], time.time()):  # type: ignore[union-attr]
                    db.delete(raw_key)
                    expired += 1
                else:
                    self._maybe_set_key_ttl(key, partition)
                if count % _KEYS_PER_YIELD == _KEYS_PER_YIELD - 1:
                    await asyncio.sleep(0)
            self._indexed_dbs[partition] = db
            if expired:
                self.log.info(
                    "partition %d: %d keys of expired windows deleted", partition, expired
                )

    def _maybe_set_key_ttl(self, key: Any, partition: int) -> None:
        if not self._should_expire_keys():
            return
        name, window_range = key
        range_end = window_range[1]
        keys = self._partition_timestamp_keys.get((partition, range_end))
        if keys is None:
            heappush(self._partition_timestamps[partition], range_end)
            latest = self._partition_latest_timestamp[partition]
            self._partition_latest_timestamp[partition] = max(latest, range_end)
            keys = self._partition_timestamp_keys[(partition, range_end)] = set()
        elif keys:
            shared_range = next(iter(keys))[1]
            if shared_range == window_range:
                key = (name, shared_range)
        keys.add(key)


def _window_key(raw_key: bytes) -> tuple[Any, tuple[float, float]] | None:
    """A stored key as Faust writes a windowed one (``[key, [start, end]]`` in JSON), or None."""
    try:
        key, (start, end) = orjson.loads(raw_key)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if isinstance(key, (list, dict)) or not all(isinstance(t, (int, float)) for t in (start, end)):
        return None
    return (key, (start, end))
