"""A batch ends at its record count or its bytes, whichever comes first, and always moves on."""

from __future__ import annotations

from types import SimpleNamespace

from streams.batch_budget import BatchBudget, RecordSizes, record_bytes
from streams.batch_reader import BatchReader
from streams.carried_records import CarriedRecords
from streams.rdkafka_reader import RdkafkaReader
from tests.unit.client_records import AiokafkaRecord, RdkafkaMessage


def test_short_records_fill_a_batch_by_count() -> None:
    budget = BatchBudget(records=256, max_bytes=1_048_576)
    assert budget.take([300] * 1_000) == 256
    assert budget.full


def test_long_records_end_a_batch_by_bytes() -> None:
    budget = BatchBudget(records=256, max_bytes=1_048_576)
    assert budget.take([60_000] * 256) == 17  # 17 x 60 KB fit in 1 MiB, the 18th does not
    assert budget.take([100]) == 1  # a short one still fits beside them
    assert budget.take([60_000]) == 0


def test_an_empty_batch_takes_its_first_record_however_large() -> None:
    budget = BatchBudget(records=256, max_bytes=1_000)
    assert budget.take([5_000, 10]) == 1
    assert budget.full
    assert budget.take([10]) == 0


def test_every_partition_gives_a_record_to_its_turn() -> None:
    budget = BatchBudget(records=256, max_bytes=100_000)
    shares = [budget.take([80_000] * 10, limit=25_000, at_least_one=True) for _ in range(4)]
    assert shares == [1, 1, 1, 1]  # over its share and over the budget, each turn moves on
    assert budget.take([10]) == 0  # the batch is full for what is not a turn


def test_a_share_limits_a_partition_within_the_batch() -> None:
    budget = BatchBudget(records=256, max_bytes=100_000)
    assert budget.take([10_000] * 10, limit=25_000, at_least_one=True) == 2
    assert budget.take([10_000] * 10) == 8  # the rest of the batch's bytes


def test_a_record_costs_its_key_value_and_headers() -> None:
    assert record_bytes(b"key", b"value") == 8
    assert record_bytes(None, None) == 0
    # chatguard reads no header of an input record, but a batch holds them
    assert record_bytes(b"key", b"value", [("trace", b"x" * 100), ("empty", None)]) == 118
    assert record_bytes(None, b"v", ()) == 1


def test_a_reader_asks_for_about_as_many_records_as_fit() -> None:
    """A seek back refetches and decompresses a whole compressed batch: an outside probe's
    900-record batches were decompressed once per record taken. Asked for what fits, a reader
    seeks back only where the sizes changed."""
    sizes = RecordSizes()
    budget = _budget()
    assert sizes.fit(budget, 256, "p0") == 256  # nothing seen yet: the count alone
    sizes.saw("p0", [60_000] * 20)
    sizes.saw("p1", [300] * 20)
    assert sizes.fit(budget, 256, "p0") == 17  # 17 x 60 KB fit in 1 MiB
    assert sizes.fit(budget, 256, "p1") == 256
    assert sizes.fit(budget, 32, "p0", limit=131_072) == 2  # a partition's share of the bytes
    assert sizes.fit(budget, 32, "p0", limit=10_000) == 1  # a turn always asks for one
    assert sizes.fit(budget, 256) == 17  # no partition named: the largest records seen
    budget.take([60_000] * 17)
    assert sizes.fit(budget, 256, "p1") == 95  # the 28,576 bytes left hold 95 short ones
    budget.take([60_000], at_least_one=True)
    assert sizes.fit(budget, 256, "p1") == 1  # the budget is spent: one, for a partition's turn
    sizes.saw("p0", [300] * 40)  # the flood is over: the mean follows the newest records
    assert sizes.fit(_budget(), 256, "p0") == 256


# -- the readers' use of it, with a consumer that records seeks (no broker needed)


class _Consumer:
    def __init__(self) -> None:
        self.sought: list[tuple[object, int]] = []

    def seek(self, tp: object, offset: int | None = None) -> None:
        self.sought.append((tp, offset or 0))


LONG = b"x" * 600_000  # two do not fit in 1 MiB


def _budget() -> BatchBudget:
    return BatchBudget(256, 1_048_576)


def _batch_reader() -> SimpleNamespace:
    return SimpleNamespace(
        _consumer=_Consumer(),
        _sizes=RecordSizes(),
        _carried=CarriedRecords(lambda r: r.offset, lambda r: record_bytes(r.key, r.value)),
    )


def _rdkafka_reader() -> SimpleNamespace:
    return SimpleNamespace(
        _consumer=_Consumer(),
        _sizes=RecordSizes(),
        _carried=CarriedRecords(lambda m: m.offset(), lambda m: record_bytes(None, m.value())),
    )


def test_the_batch_reader_carries_what_did_not_fit_instead_of_fetching_it_again() -> None:
    """A seek back fetched a compressed record batch again, decompressed whole: an outside
    probe's batch of 100,000 empty records with a 300 KB one every 500 held its partition 113 s
    (7 s when nothing was left out)."""
    reader = _batch_reader()
    got = {
        "p0": [AiokafkaRecord(0, i, LONG) for i in range(3)],
        "p1": [AiokafkaRecord(1, 7, b"short")],
    }
    fetched: dict[object, list[AiokafkaRecord]] = {}
    BatchReader._take(reader, got, BatchBudget(256, 1_048_576), fetched)  # type: ignore[arg-type]
    assert [r.offset for r in fetched["p0"]] == [0]
    assert [r.offset for r in fetched["p1"]] == [7]
    assert reader._consumer.sought == []
    assert [r.offset for r in reader._carried.take("p0", _budget())] == [1]
    assert [r.offset for r in reader._carried.take("p0", _budget())] == [2]


def test_the_readers_count_a_record_by_its_headers_too() -> None:
    """Short values under 600 KB of headers each: two do not fit in 1 MiB, on either reader."""
    heavy = (("padding", LONG),)
    reader = _batch_reader()
    got = {"p0": [AiokafkaRecord(0, i, b"short", headers=heavy) for i in range(3)]}
    fetched: dict[object, list[AiokafkaRecord]] = {}
    BatchReader._take(reader, got, _budget(), fetched)  # type: ignore[arg-type]
    assert [r.offset for r in fetched["p0"]] == [0]
    assert reader._carried.drop() == {"p0": 1}

    reader = _rdkafka_reader()
    consumed = [RdkafkaMessage(0, i, b"short", list(heavy)) for i in range(3)]
    kept = RdkafkaReader._within_budget(reader, consumed, _budget())  # type: ignore[arg-type]
    assert [m.offset() for m in kept] == [0]
    assert reader._carried.drop() == {("chat.messages", 0): 1}


def test_the_rdkafka_reader_carries_a_partition_from_its_first_record_left_out() -> None:
    """What fits keeps its order; a partition's records after one left out wait with it, even
    those that would fit, so none is handed out before an earlier one."""
    reader = _rdkafka_reader()
    consumed = [RdkafkaMessage(0, 0, LONG), RdkafkaMessage(1, 5, b"a"), RdkafkaMessage(0, 1, LONG)]
    consumed += [RdkafkaMessage(1, 6, b"b"), RdkafkaMessage(0, 2, b"c")]
    kept = RdkafkaReader._within_budget(reader, consumed, _budget())  # type: ignore[arg-type]
    assert [(m.partition(), m.offset()) for m in kept] == [(0, 0), (1, 5), (1, 6)]
    assert reader._consumer.sought == []
    carried = reader._carried.take(("chat.messages", 0), _budget())
    assert [m.offset() for m in carried] == [1, 2]
