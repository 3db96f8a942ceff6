"""How much of what is fetched one batch takes: at most ``batch_size`` records and
``batch_max_bytes`` bytes.

A batch is scored whole before the next starts, and a record on another partition waits for the
batch in hand (and the one started beside it). Counted in records alone, a batch of the longest
texts allowed (256 x 20,000 characters) took 6.5 s to score, so a flood of long texts on one
partition held every other partition of the worker for seconds at each batch. Counted in bytes
as well, a batch of such texts holds about fifty. Both readers take records through a budget;
records fetched past it are fetched again for the next batch (the reader seeks back to the
first one left), so none is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable


def record_bytes(key: bytes | None, value: bytes | None) -> int:
    """What a record costs a batch: its key and value bytes."""
    return (len(key) if key else 0) + (len(value) if value else 0)


class BatchBudget:
    """The records and bytes a batch still has room for."""

    def __init__(self, records: int, max_bytes: int) -> None:
        self.records = records
        self.bytes = max_bytes
        self.taken = 0  # records taken so far

    @property
    def full(self) -> bool:
        return self.records <= 0 or self.bytes <= 0

    def take(
        self, sizes: Iterable[int], *, limit: int | None = None, at_least_one: bool = False
    ) -> int:
        """How many of the records of ``sizes`` (in order) the batch takes, at most ``limit``
        bytes of them (a partition's share); they are counted against the budget. The first
        record is taken however large when ``at_least_one`` (a partition's turn) or the batch is
        empty, so every batch and every partition's turn moves on."""
        room = self.bytes if limit is None else min(limit, self.bytes)
        count = used = 0
        for size in sizes:
            if self.records - count <= 0:
                break
            if used + size > room and (count or not (at_least_one or self.taken == 0)):
                break
            count += 1
            used += size
            if used >= room:
                break
        self.records -= count
        self.bytes -= used
        self.taken += count
        return count
