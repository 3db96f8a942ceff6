"""Records fetched past a batch's budget, kept for the next batch instead of fetched again.

A batch ends at a number of records and of bytes (``streams.batch_budget``), and a client hands
out more than that where record sizes change. Seeking back to the first record left out fetched
it again, and a fetch from inside a compressed record batch returns the whole batch,
decompressed again: an outside probe's zstd batch of 100,000 empty records with a 300 KB record
after every 499 (154 KB on the wire, 60 MB decompressed) held its partition 113 s on the default
path and 38 s on librdkafka, against 7 and 10 s with a budget it never overflowed. The records
left out are already in memory, and at most one fetch's worth, so the reader keeps them and
hands them out first in the next batch.

The client's position is past them: a reader that drops them while it keeps the partition (a
rewind to the last commit, a seek past an unreadable batch) seeks back to the first one, or to
an offset before it; a partition revoked or lost just drops them (its next owner, perhaps this
worker again, reads from the last commit).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from itertools import islice
from typing import Any, Generic, TypeVar

from streams.batch_budget import BatchBudget

P = TypeVar("P", bound=Hashable)  # how the reader names a partition
R = TypeVar("R")  # how its client hands out a record


class CarriedRecords(Generic[P, R]):
    """Per partition, the records fetched and not yet handed out, in offset order."""

    def __init__(self, offset: Callable[[R], int], size: Callable[[R], int]) -> None:
        self._offset = offset
        self._size = size
        self._held: dict[P, deque[R]] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def holds(self, partition: P) -> bool:
        return partition in self._held

    def partitions(self) -> list[P]:
        return list(self._held)

    def carry(self, partition: P, records: Iterable[R]) -> None:
        """Keep ``records`` (fetched after what the partition handed out, in order)."""
        held = self._held.setdefault(partition, deque())
        held.extend(records)
        if not held:
            del self._held[partition]

    def take(
        self, partition: P, budget: BatchBudget, most: int | None = None, **share: Any
    ) -> list[R]:
        """What ``budget`` has room for of the partition's records, from the first, at most
        ``most``; the rest stay. ``share``: :meth:`BatchBudget.take`'s ``limit`` and
        ``at_least_one``."""
        held = self._held.get(partition)
        if not held:
            return []
        sizes = (self._size(record) for record in islice(held, most))
        count = budget.take(sizes, **share)
        taken = [held.popleft() for _ in range(count)]
        if not held:
            del self._held[partition]
        return taken

    def put_back(self, partition: P, records: Iterable[R]) -> None:
        """Return records taken from the partition (or fetched before those it holds), in
        order, ahead of what it holds: a batch that failed while it was being fetched."""
        held = self._held.setdefault(partition, deque())
        held.extendleft(reversed(list(records)))
        if not held:
            del self._held[partition]

    def drop(self, partitions: Iterable[P] | None = None) -> dict[P, int]:
        """Forget the records of ``partitions`` (None: all); per partition, the offset of the
        first one dropped, where its client must read from again if it keeps the partition."""
        chosen = list(self._held) if partitions is None else list(partitions)
        firsts = {}
        for partition in chosen:
            held = self._held.pop(partition, None)
            if held:
                firsts[partition] = self._offset(held[0])
        return firsts
