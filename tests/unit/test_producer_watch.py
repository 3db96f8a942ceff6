"""A producer that stops delivering is woken, then reported; one that delivers again is not.

Real aiokafka producers, never started (so nothing is sent): batches are put in their
accumulators as ``send`` would, and the watch is given a clock moved past the limits."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streams.producer_watch import (
    DESCRIBE_EVERY_S,
    NUDGE_AFTER_S,
    ProducerWatch,
    nudge,
    oldest_undelivered_age,
)

TP = TopicPartition("moderation.decisions", 3)


@pytest.fixture
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    yield AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")  # never started: nothing connects


async def queue_batch(producer: AIOKafkaProducer) -> None:
    builder = producer.create_batch()
    builder.append(key=None, value=b"a decision", timestamp=None)
    await producer._message_accumulator.add_batch(builder, TP, timeout=1)


def deliver_all(producer: AIOKafkaProducer) -> None:
    """What the sender does once the broker acknowledged: the accumulator is empty again."""
    accumulator = producer._message_accumulator
    for queue in accumulator._batches.values():
        for batch in queue:
            batch.done_noack()
    accumulator._batches.clear()


async def test_the_age_is_of_the_oldest_batch_not_delivered(producer: AIOKafkaProducer) -> None:
    now = time.monotonic()
    assert oldest_undelivered_age(producer, now) is None
    await queue_batch(producer)
    age = oldest_undelivered_age(producer, now + 100)
    assert age is not None and 99 < age <= 101
    deliver_all(producer)
    assert oldest_undelivered_age(producer, now + 100) is None


async def test_a_batch_sent_and_not_yet_answered_counts_too(producer: AIOKafkaProducer) -> None:
    await queue_batch(producer)
    accumulator = producer._message_accumulator
    batches, unknown_leaders = accumulator.drain_by_nodes(ignore_nodes=set())
    assert not batches and unknown_leaders  # no metadata: its leader is unknown, it stays queued
    batch = accumulator._batches[TP].popleft()
    accumulator._pending_batches.add(batch)  # as _pop_batch does when the sender takes it
    age = oldest_undelivered_age(producer, time.monotonic() + 50)
    assert age is not None and age >= 49


async def test_a_nudge_wakes_the_sender_and_asks_for_metadata(producer: AIOKafkaProducer) -> None:
    accumulator = producer._message_accumulator
    accumulator.drain_by_nodes(ignore_nodes=set())  # the sender's wait starts on a new future
    assert not accumulator._waiter_future.done()
    assert producer.client._md_update_fut is None
    nudge(producer)
    assert accumulator._waiter_future.done()  # the sender's asyncio.wait returns
    assert producer.client._md_update_fut is not None  # the synchronizer is asked for metadata


async def test_a_nudge_names_every_topic_it_holds_batches_for(
    producer: AIOKafkaProducer,
) -> None:
    """Metadata that stopped naming a batch's topic never finds its leader again."""
    await queue_batch(producer)
    producer.client._topics = {"moderation.review"}  # asks about another topic only
    nudge(producer)
    assert producer.client._topics == {"moderation.review", TP.topic}


async def test_slow_then_stalled_then_delivering_again(
    producer: AIOKafkaProducer, caplog: pytest.LogCaptureFixture
) -> None:
    watch = ProducerWatch(stall_after_s=300)
    start = time.monotonic()
    watch.check({"batch reader": producer}, start)
    assert not watch.stalled  # nothing held
    await queue_batch(producer)
    caplog.set_level(logging.WARNING, logger="streams.producer_watch")

    watch.check({"batch reader": producer}, start + NUDGE_AFTER_S + 1)
    assert not watch.stalled
    assert producer._message_accumulator._waiter_future.done()  # nudged
    assert "has not delivered a batch" in caplog.text and "queued batches" in caplog.text

    caplog.clear()
    watch.check({"batch reader": producer}, start + 60)
    assert not caplog.text  # not a warning per look
    watch.check({"batch reader": producer}, start + NUDGE_AFTER_S + 1 + DESCRIBE_EVERY_S)
    assert "has still not delivered" in caplog.text  # the state again, once a minute

    watch.check({"batch reader": producer}, start + 301)
    assert "no batch delivered for 301s" in watch.stalled["batch reader"]
    assert "is stalled" in caplog.text

    deliver_all(producer)
    watch.check({"batch reader": producer}, start + 302)
    assert not watch.stalled
    assert "delivers again" in caplog.text


async def test_a_producer_that_went_away_is_forgotten(producer: AIOKafkaProducer) -> None:
    watch = ProducerWatch(stall_after_s=10)
    await queue_batch(producer)
    watch.check({"faust transaction t-1": producer}, time.monotonic() + 60)
    assert watch.stalled
    watch.check({}, time.monotonic() + 61)  # the transaction producer stopped in a rebalance
    assert not watch.stalled


async def test_the_nudge_comes_no_later_than_the_stall(producer: AIOKafkaProducer) -> None:
    watch = ProducerWatch(stall_after_s=5)  # shorter than the nudge delay
    await queue_batch(producer)
    watch.check({"faust": producer}, time.monotonic() + 6)
    assert watch.stalled and producer._message_accumulator._waiter_future.done()
