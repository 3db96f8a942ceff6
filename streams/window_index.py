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
"""

from __future__ import annotations

from heapq import heappush
from typing import Any

import faust


class WindowIndexTable(faust.Table):
    """``faust.Table``, with one heap entry per partition and window end."""

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
