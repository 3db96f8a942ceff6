"""How much of what is fetched one batch takes: at most ``batch_size`` records and
``batch_max_bytes`` bytes.

A batch is scored whole before the next starts, and a record on another partition waits for the
batch in hand (and the one started beside it). Counted in records alone, a batch of the longest
texts allowed (256 x 20,000 characters) took 6.5 s to score, so a flood of long texts on one
partition held every other partition of the worker for seconds at each batch. Counted in bytes
as well (256 KiB), a batch of such texts holds about thirteen. Both readers take records through
a budget; records fetched past it are kept for the next batch (``streams.carried_records``), so
none is skipped.

A reader asks its client for about as many records as the budget has room for, at each
partition's recent record size (:class:`RecordSizes`), so that little is carried. Records left
out used to be fetched again, and a fetch from inside a compressed record batch returns the whole
batch, decompressed again: an outside probe's batches of 900 texts (34 KB on the wire, 54 MB
decompressed) were decompressed once for each record a partition's turn took, and a worker's
memory swung up to 2 GB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Header = str | bytes | None
# aiokafka's are a tuple of pairs, confluent-kafka's a list of pairs (a dict in its type stubs)
Headers = Sequence[tuple[str, Header]] | Mapping[str, Header] | None


def record_bytes(key: bytes | None, value: bytes | None, headers: Headers = None) -> int:
    """What a record costs a batch: its key, value and header bytes. chatguard reads no header
    of an input record, but a batch holds them: 256 records of small values and 900 KB of
    headers each are 230 MB in memory."""
    size = (len(key) if key else 0) + (len(value) if value else 0)
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, header in pairs:
        size += len(name) + (len(header) if header else 0)
    return size


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


class RecordSizes:
    """Each partition's recent record size (a moving average), to ask a client for about as
    many records as a budget has room for."""

    WEIGHT = 0.25  # of the newest record

    def __init__(self) -> None:
        self._mean: dict[object, float] = {}

    def saw(self, partition: object, sizes: Iterable[int]) -> None:
        mean = self._mean.get(partition)
        for size in sizes:
            mean = float(size) if mean is None else mean + self.WEIGHT * (size - mean)
        if mean is not None:
            self._mean[partition] = mean

    def fit(
        self, budget: BatchBudget, most: int, partition: object = None, limit: int | None = None
    ) -> int:
        """How many records to ask for: at most ``most`` and the budget's records, and about as
        many as its bytes (or ``limit``) hold at ``partition``'s mean size (None: the largest
        mean of any partition); at least one."""
        if partition is None:
            mean = max(self._mean.values(), default=None)
        else:
            mean = self._mean.get(partition)
        count = min(most, budget.records)
        if mean:
            room = budget.bytes if limit is None else min(limit, budget.bytes)
            count = min(count, int(room // mean))
        return max(1, count)
