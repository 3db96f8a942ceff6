"""Turns at the front of a shared fetch queue: when a partition that has held it must go to the
back.

librdkafka hands out records in the order it fetched them ahead, every partition's from one
queue, so a flood fetched on one partition held decisions on the others for up to 236 s (an
outside probe). The reader counts the records and bytes each partition supplies in a row; once
one has supplied a whole turn (a batch's worth of either), the reader sends it to the back of
the queue (``streams.rdkafka_reader``) and what the others have queued comes next. Counted in
records alone, a turn of 256 texts of 20,000 characters spanned fifteen batches of 1 MiB, and
four partitions flooded with them each waited a minute for the others' turns.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)  # how the reader names a partition


class PartitionTurns(Generic[P]):
    """The partition at the front of the queue and how much it has supplied in a row."""

    def __init__(self, turn: int, turn_bytes: int | None = None) -> None:
        self.turn = turn  # records a partition may supply in a row
        self.turn_bytes = turn_bytes  # and bytes (None: no bound)
        self._front: P | None = None
        self._run = 0
        self._run_bytes = 0

    def served(self, records: Iterable[tuple[P, int]]) -> P | None:
        """Count the records handed out, each as its partition and its bytes, in queue order;
        the partition whose turn is over (to go to the back), or None."""
        for partition, size in records:
            if partition != self._front:
                self._front, self._run, self._run_bytes = partition, 0, 0
            self._run += 1
            self._run_bytes += size
        over_bytes = self.turn_bytes is not None and self._run_bytes >= self.turn_bytes
        if self._run < self.turn and not over_bytes:
            return None
        over, self._front, self._run, self._run_bytes = self._front, None, 0, 0
        return over
