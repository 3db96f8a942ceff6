"""A batch reader loses nothing it took when a fetch fails partway, and hands out nothing of a
partition revoked meanwhile (``streams.carried_records``). The clients are stand-ins that
fail or rebalance on cue; the readers' logic around them is the real one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import KafkaError, KafkaException

from streams.batch_budget import BatchBudget, RecordSizes, record_bytes
from streams.batch_reader import BatchReader
from streams.carried_records import CarriedRecords
from streams.rdkafka_reader import RdkafkaReader
from tests.unit.client_records import AiokafkaRecord, RdkafkaMessage

SETTINGS = SimpleNamespace(batch_size=256, batch_max_bytes=262_144, batch_window_s=0.05)


class _AiokafkaConsumer:
    """Two partitions; ``getmany`` of ``fails`` raises, and one of ``rebalances`` first revokes
    every partition the way the rebalance listener does, then returns ``after``."""

    def __init__(self, reader: BatchReader, fails: str = "", rebalances: str = "") -> None:
        self.reader = reader
        self.fails = fails
        self.rebalances = rebalances
        self.after: list[AiokafkaRecord] = []

    def assignment(self) -> set[str]:
        return {"p0", "p1"}

    async def getmany(self, *partitions: str, **_: Any) -> dict[str, list[AiokafkaRecord]]:
        asked = partitions[0] if partitions else "all"
        if asked == self.fails:
            raise KafkaConnectionError("broker away")
        if asked == self.rebalances:
            self.reader._carried.drop()
            self.reader._revoked.update({"p0", "p1"})
            return {"p0": list(self.after)} if self.after else {}
        return {}


def _batch_reader() -> BatchReader:
    reader = BatchReader.__new__(BatchReader)
    reader.settings = SETTINGS  # type: ignore[assignment]
    reader._sizes = RecordSizes()
    reader._turn = 0
    reader._in_flight = None
    reader._revoked = set()
    reader._carried = CarriedRecords(lambda r: r.offset, lambda r: record_bytes(r.key, r.value))
    return reader


async def test_a_fetch_that_fails_partway_keeps_what_it_took_for_the_next() -> None:
    reader = _batch_reader()
    reader._consumer = _AiokafkaConsumer(reader, fails="p1")
    reader._carried.carry("p0", [AiokafkaRecord("p0", 10), AiokafkaRecord("p0", 11)])
    with pytest.raises(KafkaConnectionError):
        await reader._fetch_in_turn()
    assert reader._carried.drop() == {"p0": 10}  # where the position must go back to


async def test_what_was_taken_of_a_partition_revoked_meanwhile_is_not_handed_out() -> None:
    """Its new owner, or this worker again, reads it from the last commit: handing out what
    was taken before would decide it twice, and out of order."""
    reader = _batch_reader()
    consumer = _AiokafkaConsumer(reader, rebalances="p1")
    consumer.after = [AiokafkaRecord("p0", 5), AiokafkaRecord("p0", 6)]  # p0 again, from its commit
    reader._consumer = consumer
    reader._carried.carry("p0", [AiokafkaRecord("p0", 10), AiokafkaRecord("p0", 11)])
    fetched = await reader._fetch_in_turn()
    assert {tp: [r.offset for r in records] for tp, records in fetched.items()} == {"p0": [5, 6]}


class _RdkafkaConsumer:
    def __init__(self, reader: RdkafkaReader, revoke_in_consume: bool = False) -> None:
        self.reader = reader
        self.revoke_in_consume = revoke_in_consume

    def poll(self, _timeout: float) -> RdkafkaMessage:
        return RdkafkaMessage(0, 7)

    def consume(self, _count: int, _timeout: float) -> list[RdkafkaMessage]:
        if not self.revoke_in_consume:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        self.reader._revoked.add(("chat.messages", 0))  # as _on_revoke does
        return [RdkafkaMessage(0, 3), RdkafkaMessage(1, 9)]


def _rdkafka_reader() -> RdkafkaReader:
    reader = RdkafkaReader.__new__(RdkafkaReader)
    reader.settings = SETTINGS  # type: ignore[assignment]
    reader._sizes = RecordSizes()
    reader._assigned = {("chat.messages", 0), ("chat.messages", 1)}
    reader._revoked = set()
    reader._turns = SimpleNamespace(served=lambda _records: None)  # type: ignore[assignment]
    reader._carried = CarriedRecords(lambda m: m.offset() or 0, lambda m: 1)
    return reader


def test_an_rdkafka_fetch_that_fails_partway_keeps_what_it_took_for_the_next() -> None:
    reader = _rdkafka_reader()
    reader._consumer = _RdkafkaConsumer(reader)  # type: ignore[assignment]
    reader._carried.carry(("chat.messages", 0), [RdkafkaMessage(0, 5), RdkafkaMessage(0, 6)])  # type: ignore[list-item]
    with pytest.raises(KafkaException):
        reader._fetch(0.0)
    # the carried records and the polled one, all past the client's position
    carried = reader._carried.take(("chat.messages", 0), BatchBudget(256, 262_144))
    assert [m.offset() for m in carried] == [5, 6, 7]


def test_an_rdkafka_record_polled_before_a_revoke_is_not_handed_out() -> None:
    reader = _rdkafka_reader()
    reader._consumer = _RdkafkaConsumer(reader, revoke_in_consume=True)  # type: ignore[assignment]
    fetched = reader._fetch(0.0)
    assert [(m.partition(), m.offset()) for m in fetched] == [(0, 3), (1, 9)]
