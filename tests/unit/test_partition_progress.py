"""A partition whose records wait behind a position that stands still is reported stalled; one
that moves, or has nothing waiting, never is. Readings are given with a made-up clock; the
clients' offsets are read from a real aiokafka consumer that never starts and from librdkafka's
statistics as it writes them."""

from __future__ import annotations

import logging

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import metrics
from streams.partition_progress import (
    AgentLag,
    Offsets,
    PartitionProgress,
    aiokafka_offsets,
    rdkafka_offsets,
)

HELD = ("chat.messages", 0)
BUSY = ("chat.messages", 1)
IDLE = ("posts", 2)


def gauge(name: str, partition: tuple[str, int]) -> float | None:
    topic, number = partition
    return metrics.REGISTRY.get_sample_value(name, {"topic": topic, "partition": str(number)})


def test_records_waiting_at_a_position_that_does_not_move_stall_it_after_the_limit() -> None:
    progress = PartitionProgress(stall_after_s=60)
    for second in range(0, 121, 10):
        progress.observe(
            {
                HELD: Offsets(position=40, end=45 + second, stable=40),  # more arrive behind
                BUSY: Offsets(position=1_000 + 50 * second, end=90_000),  # a backlog, moving
                IDLE: Offsets(position=7, end=7),  # caught up, for ever
            },
            now=1_000.0 + second,
        )
        stalled = progress.stalled(now=1_000.0 + second)
        assert [(s["topic"], s["partition"]) for s in stalled] == ([HELD] if second >= 60 else [])
    assert stalled == [
        {
            "topic": "chat.messages",
            "partition": 0,
            "position": 40,
            "end": 165,
            "last_stable_offset": 40,
            "seconds": 120.0,
        }
    ]
    assert gauge("chatguard_partition_stalled_seconds", HELD) == 120
    assert gauge("chatguard_partition_lag", HELD) == 125
    assert gauge("chatguard_partition_stalled_seconds", BUSY) == 0
    assert gauge("chatguard_partition_lag", IDLE) == 0


def test_the_wait_counts_from_when_records_first_waited_at_the_position() -> None:
    progress = PartitionProgress(stall_after_s=60)
    progress.observe({HELD: Offsets(10, 10)}, now=0.0)  # caught up for a long time
    progress.observe({HELD: Offsets(10, 10)}, now=500.0)
    progress.observe({HELD: Offsets(10, 11)}, now=510.0)  # then one record comes, and stays
    assert progress.stalled(now=569.0) == []
    assert [s["seconds"] for s in progress.stalled(now=570.0)] == [60.0]


def test_a_position_that_moves_again_ends_the_stall_and_logs_both_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    progress = PartitionProgress(stall_after_s=5)
    with caplog.at_level(logging.WARNING, logger="streams.partition_progress"):
        for second in range(10):
            progress.observe({HELD: Offsets(3, 9, stable=3)}, now=float(second))
        assert progress.stalled(now=9.0)
        progress.observe({HELD: Offsets(9, 9, stable=9)}, now=10.0)  # the transaction ended
        assert progress.stalled(now=100.0) == []
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert "chat.messages-0 is stalled: 6 records have waited 5s beyond position 3" in said[0]
    assert "last stable offset 3 (a transaction left open?)" in said[0]
    assert "chat.messages-0 moves again (position 9)" in said[1]
    assert gauge("chatguard_partition_stalled_seconds", HELD) == 0


def test_a_partition_no_longer_assigned_is_forgotten_with_its_metrics() -> None:
    progress = PartitionProgress(stall_after_s=5)
    progress.observe({HELD: Offsets(3, 9), BUSY: Offsets(1, 2)}, now=0.0)
    progress.observe({BUSY: Offsets(1, 2)}, now=10.0)  # HELD went to another worker
    assert [s["partition"] for s in progress.stalled(now=10.0)] == [1]
    assert gauge("chatguard_partition_lag", HELD) is None
    # assigned back later, it starts counting again
    progress.observe({HELD: Offsets(3, 9), BUSY: Offsets(1, 2)}, now=11.0)
    assert [s["partition"] for s in progress.stalled(now=12.0)] == [1]


def test_the_agents_lag_is_shown_per_partition_and_forgotten_when_it_moves_away() -> None:
    """A flood of 200,000 reports showed nowhere but in the consumer group's lag: the lag
    gauge covered the scored topics only. The agents' partitions have a gauge of their own,
    without a stall check (the retry agent rightly holds its partitions)."""
    reports, retry = ("user.reports", 0), ("reports.retry", 3)
    lag = AgentLag()
    lag.observe({reports: Offsets(10, 91_736), retry: Offsets(5, 5)})
    assert gauge("chatguard_agent_lag", reports) == 91_726
    assert gauge("chatguard_agent_lag", retry) == 0
    lag.observe({retry: Offsets(5, 8)})
    assert gauge("chatguard_agent_lag", reports) is None
    assert gauge("chatguard_agent_lag", retry) == 3


async def test_aiokafka_offsets_are_the_position_taken_and_the_last_fetch_s_ends() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started
    held, fresh, other = (
        TopicPartition("chat.messages", 0),
        TopicPartition("chat.messages", 1),
        TopicPartition("account.strikes", 0),
    )
    assert aiokafka_offsets(consumer) == {}
    consumer._subscription.assign_from_user([held, fresh, other])
    assignment = consumer._subscription.subscription.assignment
    for tp in (held, other):
        state = assignment.state_value(tp)
        state.await_reset(0)
        state.reset_to(40)
        state.highwater, state.lso = 52, 40
    # ``fresh`` has neither a position nor a fetch response yet: left out
    assert aiokafka_offsets(consumer, ["chat.messages"]) == {
        ("chat.messages", 0): Offsets(position=40, end=52, stable=40)
    }
    assert len(aiokafka_offsets(consumer)) == 2


def test_rdkafka_offsets_count_to_the_high_watermark_from_the_application_s_position() -> None:
    """Trimmed from librdkafka 2.x statistics: partition 1 is held by an open transaction at
    offset 2 (nothing taken yet since the assignment, so the committed offset is the position);
    librdkafka's own ``consumer_lag`` says 0 there."""
    statistics = {
        "topics": {
            "chat.messages": {
                "partitions": {
                    "0": {
                        "fetch_state": "active",
                        "next_offset": 80,
                        "app_offset": 75,
                        "committed_offset": 70,
                        "hi_offset": 90,
                        "ls_offset": 90,
                    },
                    "1": {
                        "fetch_state": "active",
                        "next_offset": 2,
                        "app_offset": -1001,
                        "committed_offset": 2,
                        "hi_offset": 6,
                        "ls_offset": 2,
                        "consumer_lag": 0,
                    },
                    "2": {  # fetched from its start, nothing taken or committed
                        "fetch_state": "active",
                        "next_offset": 0,
                        "app_offset": -1001,
                        "committed_offset": -1001,
                        "hi_offset": 0,
                        "ls_offset": 0,
                    },
                    "3": {  # no fetch response yet
                        "fetch_state": "offset-query",
                        "next_offset": -1001,
                        "app_offset": -1001,
                        "committed_offset": 5,
                        "hi_offset": -1001,
                        "ls_offset": -1001,
                    },
                    "-1": {"fetch_state": "none", "hi_offset": -1001},
                }
            },
            "posts": {"partitions": {"0": {"fetch_state": "none", "hi_offset": 3}}},
        }
    }
    assert rdkafka_offsets(statistics) == {
        ("chat.messages", 0): Offsets(75, 90, 90),
        ("chat.messages", 1): Offsets(2, 6, 2),
        ("chat.messages", 2): Offsets(0, 0, 0),
    }
    assert rdkafka_offsets({}) == {}
