"""Turns at the front of a shared fetch queue: when a partition that has held it must go to the
back.

librdkafka hands out records in the order it fetched them ahead, every partition's from one
queue, so a flood fetched on one partition held decisions on the others for up to 236 s (an
outside probe). The reader counts the records and bytes each partition supplies in a row; once
one has supplied a whole turn (a batch's worth of either), the reader sends it to the back of
the queue (``streams.rdkafka_reader``) and what the others have queued comes next. Counted in
records alone, a turn of 256 texts of 20,000 characters spanned fifteen batches of 1 MiB, and
four partitions flooded with them each waited a minute for the others' turns.

Going to the back costs a refetch, and librdkafka reads a compressed record batch whole to
fetch from inside it: an outside probe's single zstd batch of a million empty records cost about
half a second a turn, so 256 records a turn decided 400 to 1,000 records a second and the
partition was still not drained after ten minutes (the aiokafka reader: 40 s). So a turn lasts at
least as long as the partition was last away from the front, up to :data:`LONGEST_TURN_S`, too:
a partition whose refetch is slow keeps about half of the time (a million such records: 69–80
s), and one whose refetch is quick (an ordinary backlog) still goes back after a batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)  # how the reader names a partition

# the longest a turn is stretched to make up for the time its partition was away: what the
# other partitions' records may wait behind one flooded partition
LONGEST_TURN_S = 1.0


class PartitionTurns(Generic[P]):
    """The partition at the front of the queue and how much it has supplied in a row."""

    def __init__(
        self,
        turn: int,
        turn_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.turn = turn  # records a partition may supply in a row
        self.turn_bytes = turn_bytes  # and bytes (None: no bound)
        self._clock = clock
        self._front: P | None = None
        self._run = 0
        self._run_bytes = 0
        self._run_began = 0.0
        self._run_lasts = 0.0  # the least time the run at the front lasts
        self._sent_back: dict[P, float] = {}  # when each partition last went to the back

    def served(self, records: Iterable[tuple[P, int]]) -> P | None:
        """Count the records handed out, each as its partition and its bytes, in queue order;
        the partition whose turn is over (to go to the back), or None."""
        now = self._clock()
        for partition, size in records:
            if partition != self._front:
                self._begin_run(partition, now)
            self._run += 1
            self._run_bytes += size
        over_bytes = self.turn_bytes is not None and self._run_bytes >= self.turn_bytes
        if self._run < self.turn and not over_bytes:
            return None
        if now - self._run_began < self._run_lasts:
            return None
        over, self._front, self._run, self._run_bytes = self._front, None, 0, 0
        if over is not None:
            self._sent_back[over] = now
        return over

    def _begin_run(self, partition: P, now: float) -> None:
        self._front, self._run, self._run_bytes = partition, 0, 0
        self._run_began = now
        away = now - self._sent_back.pop(partition, now)
        self._run_lasts = min(away, LONGEST_TURN_S)
