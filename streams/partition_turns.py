"""Turns at the front of a shared fetch queue: when a partition that has held it must go to the
back.

librdkafka hands out records in the order it fetched them ahead, every partition's from one
queue, so a flood fetched on one partition held decisions on the others for up to 236 s (an
outside probe). The reader counts the records each partition supplies in a row; once one has
supplied a whole turn, the reader sends it to the back of the queue (``streams.rdkafka_reader``)
and what the others have queued comes next.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)  # how the reader names a partition


class PartitionTurns(Generic[P]):
    """The partition at the front of the queue and how many records it has supplied in a row."""

    def __init__(self, turn: int) -> None:
        self.turn = turn  # records a partition may supply in a row
        self._front: P | None = None
        self._run = 0

    def served(self, partitions: Iterable[P]) -> P | None:
        """Count the records handed out, each given by its partition in queue order; the
        partition whose turn is over (to go to the back), or None."""
        for partition in partitions:
            if partition != self._front:
                self._front, self._run = partition, 0
            self._run += 1
        if self._run < self.turn:
            return None
        over, self._front, self._run = self._front, None, 0
        return over
