"""The latency metrics: how late the event loop runs, and where a batch spends its time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from streams import metrics
from streams.agents import Worker
from tests.agents.harness import RecordingSink, chat, put_all

STAGES = ("start", "scores", "decide", "send")


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def until(condition: Callable[[], bool], limit_s: float = 60.0) -> None:
    """Yield to the loop until ``condition()`` holds (bounded, so a broken monitor fails)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_a_blocked_event_loop_shows_as_lag() -> None:
    count = "chatguard_event_loop_lag_seconds_count"
    total = "chatguard_event_loop_lag_seconds_sum"
    monitor = asyncio.create_task(metrics.measure_event_loop_lag())
    try:
        await until(lambda: sample(count) >= 1)  # the monitor runs
        seen, before = sample(count), sample(total)
        await asyncio.sleep(0)  # let the monitor start its next sleep
        time.sleep(0.4)  # work that never yields, 0.3 s longer than the monitor's sleep
        await until(lambda: sample(count) > seen)
        assert sample(total) - before >= 0.25
    finally:
        monitor.cancel()


async def test_each_stage_of_a_batch_is_timed(worker: Worker, sink: RecordingSink) -> None:
    def counts() -> dict[str, float]:
        name = "chatguard_batch_stage_seconds_count"
        return {stage: sample(name, {"stage": stage}) for stage in STAGES}

    before = counts()
    await put_all(worker, sink, [chat("one", "see you at eight"), chat("two", "ok 👍")])
    assert len(sink.on("moderation.decisions")) == 2
    after = counts()
    assert all(after[stage] > before[stage] for stage in STAGES), (before, after)
