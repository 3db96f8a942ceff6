"""A stop or a rebalance waits a bounded time for the agents to finish the events they hold,
and a stop a bounded time for the producer to deliver."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalOperation

from chatguard.settings import Settings
from streams import app as app_module
from streams import transport
from streams.app import create_app


class _AgentsNeverFinish:
    """A consumer whose agents never acknowledge the events they took (a stuck agent)."""

    def __init__(self) -> None:
        self.waited = False

    async def wait_empty(self) -> None:
        self.waited = True
        await asyncio.Event().wait()


class _SwallowsCancellation:
    """Faust's wait_empty while its commit waits for another one: a cancellation that reaches
    it there is swallowed and the loop goes on."""

    def __init__(self) -> None:
        self.cancellations = 0

    async def wait_empty(self) -> None:
        while self.cancellations < 2:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancellations += 1


class _AgentsFinish:
    def __init__(self) -> None:
        self.waited = False

    async def wait_empty(self) -> None:
        self.waited = True


def test_a_stuck_agent_does_not_keep_the_worker_from_leaving(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_module, "DRAIN_TIMEOUT_S", 0.2)
    app = create_app(Settings())
    consumer = _AgentsNeverFinish()
    with caplog.at_level(logging.WARNING):
        asyncio.run(
            asyncio.wait_for(app._consumer_wait_empty(cast(Any, consumer), app.log), timeout=30)
        )
    assert consumer.waited
    assert "agents still hold events after" in caplog.text


def test_a_drain_that_swallows_its_cancellation_does_not_keep_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_module, "DRAIN_TIMEOUT_S", 0.2)
    app = create_app(Settings())
    consumer = _SwallowsCancellation()
    with caplog.at_level(logging.WARNING):
        asyncio.run(
            asyncio.wait_for(app._consumer_wait_empty(cast(Any, consumer), app.log), timeout=30)
        )
    assert consumer.cancellations == 2
    assert "agents still hold events after" in caplog.text


def test_agents_that_finish_are_waited_for_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(Settings())
    consumer = _AgentsFinish()
    with caplog.at_level(logging.WARNING):
        asyncio.run(app._consumer_wait_empty(cast(Any, consumer), app.log))
    assert consumer.waited
    assert "agents still hold events" not in caplog.text


class _NeverDelivers:
    """aiokafka's producer with a produce request whose answer never comes."""

    def __init__(self) -> None:
        self._sender = _Sender()
        self._message_accumulator = _Accumulator()

    async def flush(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        await asyncio.Event().wait()


class _Sender:
    def __init__(self) -> None:
        self.sender_task: asyncio.Task[Any] | None = None
        self._in_flight = {1}
        self._muted_partitions = {"decisions-3"}


class _Accumulator:
    def __init__(self) -> None:
        self._batches = {TopicPartition("decisions", 3): ["a batch"], TopicPartition("x", 0): []}
        self._pending_batches = {"a batch"}


def test_a_stopping_worker_gives_up_on_a_producer_that_never_delivers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(transport, "STOP_FLUSH_TIMEOUT_S", 0.2)
    app = create_app(Settings())
    producer = cast(transport.BoundedStopProducer, app.producer)
    stuck = _NeverDelivers()

    async def stop() -> None:
        stuck._sender.sender_task = asyncio.create_task(asyncio.Event().wait())
        producer._producer = cast(Any, stuck)
        app._stopped.set()  # the app is stopping: flushes are bounded from now on
        with pytest.raises(transport.ProducerStuck, match="queued batches \\['decisions-3 "):
            await producer.flush()
        with pytest.raises(transport.ProducerStuck):  # known stuck: no second wait
            await asyncio.wait_for(producer.flush(), timeout=0.1)
        await app._producer_flush(app.log)
        await asyncio.wait_for(producer.on_stop(), timeout=1)
        await asyncio.sleep(0)
        assert stuck._sender.sender_task.cancelled()

    with caplog.at_level(logging.WARNING):
        asyncio.run(asyncio.wait_for(stop(), timeout=30))
    assert "leaving undelivered records to the partitions' next owner" in caplog.text


def test_a_running_worker_waits_for_its_producer_without_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before a commit, outside a stop, Faust's flush must not give up: the commit would then
    count inputs whose outputs (say a table's changelog) were never delivered."""
    monkeypatch.setattr(transport, "STOP_FLUSH_TIMEOUT_S", 0.05)
    app = create_app(Settings())
    producer = app.producer
    cast(Any, producer)._producer = _NeverDelivers()

    async def flush_while_running() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(producer.flush(), timeout=0.5)

    asyncio.run(flush_while_running())


def test_a_flush_that_began_before_the_stop_is_bounded_once_it_begins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit timer's flush can start just before a stop; it must not wait for ever."""
    monkeypatch.setattr(transport, "STOP_FLUSH_TIMEOUT_S", 0.2)
    app = create_app(Settings())
    producer = cast(transport.BoundedStopProducer, app.producer)
    producer._producer = cast(Any, _NeverDelivers())

    async def flush_then_stop() -> None:
        flushing = asyncio.ensure_future(producer.flush())
        await asyncio.sleep(0.3)
        assert not flushing.done()  # running: no bound
        app._stopped.set()
        with pytest.raises(transport.ProducerStuck):
            await asyncio.wait_for(flushing, timeout=5)

    asyncio.run(flush_then_stop())


def test_a_producer_whose_stop_hangs_is_left_after_the_bound(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(transport, "STOP_FLUSH_TIMEOUT_S", 0.2)
    app = create_app(Settings())
    producer = cast(transport.BoundedStopProducer, app.producer)
    stuck = _NeverDelivers()

    async def stop() -> None:
        stuck._sender.sender_task = asyncio.create_task(asyncio.Event().wait())
        producer._producer = cast(Any, stuck)
        await asyncio.wait_for(producer.on_stop(), timeout=5)
        await asyncio.sleep(0)
        assert stuck._sender.sender_task.cancelled()

    with caplog.at_level(logging.WARNING):
        asyncio.run(stop())
    assert "the producer did not stop within" in caplog.text


class _TransactionState:
    def __init__(self) -> None:
        self.open = True

    def is_in_transaction(self) -> bool:
        return self.open


class _TransactionProducer:
    """An aiokafka transaction producer's commit path: offsets only inside a transaction, and a
    commit that takes a round trip to the coordinator."""

    def __init__(self) -> None:
        self._txn_manager = _TransactionState()
        self.offsets_sent: list[Any] = []
        self.begun = 0

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        if not self._txn_manager.is_in_transaction():
            raise IllegalOperation("Not in the middle of a transaction")  # as aiokafka does
        self.offsets_sent.append(offsets)

    async def commit_transaction(self) -> None:
        await asyncio.sleep(0.01)
        self._txn_manager.open = False

    async def begin_transaction(self) -> None:
        self._txn_manager.open = True
        self.begun += 1


def test_two_last_commits_of_a_stopping_worker_commit_each_transaction_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(Settings())
    producer = cast(transport.BoundedStopProducer, app.producer)
    tids = ("chatguard-0-0", "chatguard-0-1")
    held = {tid: _TransactionProducer() for tid in tids}
    producer._transaction_producers = cast(Any, dict(held))
    producer._trn_locks = {tid: asyncio.Lock() for tid in tids}
    offsets = {tid: {TopicPartition("events", i): 10 + i} for i, tid in enumerate(tids)}

    async def stop() -> None:
        await asyncio.gather(
            producer.commit_transactions(offsets, "chatguard", start_new_transaction=False),
            producer.commit_transactions(offsets, "chatguard", start_new_transaction=False),
        )

    with caplog.at_level(logging.INFO, logger=transport.__name__):
        asyncio.run(asyncio.wait_for(stop(), timeout=30))
    assert [held[tid].offsets_sent for tid in tids] == [[offsets[tid]] for tid in tids]
    assert "2 transactional producers had no transaction open" in caplog.text


def _held_producers(
    app: Any, tids: tuple[str, ...]
) -> tuple[transport.BoundedStopProducer, dict[str, _TransactionProducer]]:
    producer = cast(transport.BoundedStopProducer, app.producer)
    held = {tid: _TransactionProducer() for tid in tids}
    producer._transaction_producers = cast(Any, dict(held))
    producer._trn_locks = {tid: asyncio.Lock() for tid in tids}
    return producer, held


def test_a_periodic_commit_beside_the_last_one_of_a_stopping_worker_does_not_crash_it() -> None:
    """The periodic commit (which begins new transactions) waited for a producer's lock while
    the stopping worker's last commit closed its transaction; aiokafka raised and the consumer
    crashed (2 of 7 exactly-once stops under load, 2026-12-07). It leaves the producer out, and
    begins no transaction in a worker that is stopping."""
    app = create_app(Settings())
    tids = ("chatguard-0-0", "chatguard-0-1")
    producer, held = _held_producers(app, tids)
    offsets = {tid: {TopicPartition("events", i): 10 + i} for i, tid in enumerate(tids)}

    async def stop() -> None:
        app._stopped.set()  # the app is stopping
        await asyncio.gather(
            producer.commit_transactions(offsets, "chatguard", start_new_transaction=False),
            producer.commit_transactions(offsets, "chatguard", start_new_transaction=True),
        )

    asyncio.run(asyncio.wait_for(stop(), timeout=30))
    assert [held[tid].offsets_sent for tid in tids] == [[offsets[tid]] for tid in tids]
    assert [held[tid].begun for tid in tids] == [0, 0]


def test_a_running_worker_begins_a_transaction_where_none_is_open() -> None:
    app = create_app(Settings())
    producer, held = _held_producers(app, ("chatguard-0-0",))
    held["chatguard-0-0"]._txn_manager.open = False
    offsets = {"chatguard-0-0": {TopicPartition("events", 0): 10}}
    asyncio.run(asyncio.wait_for(producer.commit_transactions(offsets, "chatguard"), timeout=30))
    assert held["chatguard-0-0"].offsets_sent == [] and held["chatguard-0-0"].begun == 1
    asyncio.run(asyncio.wait_for(producer.commit_transactions(offsets, "chatguard"), timeout=30))
    assert held["chatguard-0-0"].offsets_sent == [offsets["chatguard-0-0"]]
