"""Agents on internal topics handle a batch at a time: one hand-over to the sink per batch, not
one delivery wait per record (30-60 records a second, which let a flood of forged reports hold
an honest one for minutes), and each record's table write still goes to its own partition."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.agents import Worker
from tests.agents.harness import RecordingSink, put_to

REPORTS = 200


class CountingSink(RecordingSink):
    """Counts the pipeline's hand-overs as well."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls = 0

    async def send_all(self, records: Any) -> None:
        self.calls += 1
        await super().send_all(records)


def _report(n: int) -> dict[str, Any]:
    return {
        "kind": "report",
        "report_id": f"rep-{n}",
        "reporter_id": f"reporter-{n}",
        "event_id": f"evt-{n}",
        "account_id": "acct-1",
        "reason": "fraud",
        "category": "fraud",
        "reported_at": 1_700_000_000.0,
    }


async def test_a_batch_of_reports_is_weighed_and_handed_over_together(
    worker: Worker, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingSink(worker.settings)
    monkeypatch.setattr(worker.pipeline, "sink", counting)
    changelog: list[tuple[int | None, Any]] = []
    table = worker.reporters_table
    sent = table.send_changelog

    def recording(partition: int | None, key: Any, value: Any, *args: Any, **kw: Any) -> Any:
        changelog.append((partition, key))
        return sent(partition, key, value, *args, **kw)

    monkeypatch.setattr(table, "send_changelog", recording)
    reports = [_report(n) for n in range(REPORTS)]
    partitions = [n % 4 for n in range(REPORTS)]
    await put_to(
        worker.weigh_reports,
        worker.settings.topic("reports.by_reporter"),
        [(r["reporter_id"].encode(), orjson.dumps(r)) for r in reports],
        lambda: len(counting.on("reporter.stats")) >= REPORTS,
        partitions=partitions,
    )
    weighed = counting.on("events.by_id")
    assert sorted(w["report_id"] for w in weighed) == sorted(r["report_id"] for r in reports)
    # a batch is up to batch_size records: far fewer hand-overs than records
    assert counting.calls <= REPORTS // worker.settings.batch_size + 2, counting.calls
    # each reporter's entry went to the changelog partition of the record that changed it
    where = {key: partition for partition, key in changelog}
    assert where == {f"reporter-{n}": partitions[n] for n in range(REPORTS)}


async def test_a_stateful_agent_holds_its_batch_while_the_data_disk_is_short_of_room(
    worker: Worker, sink: RecordingSink
) -> None:
    """On a full disk RocksDB's error reached Faust's changelog callback and stopped the worker.
    Under ``CHATGUARD_DATA_MIN_FREE_MB`` an agent that writes a table holds its batch (unacked),
    ``/ready`` names the problem, and once there is room the batch goes through."""
    worker.disk.min_free_mb = 1 << 40  # more than any disk has: short of room
    reports = [_report(n) for n in range(3)]
    records = [(r["reporter_id"].encode(), orjson.dumps(r)) for r in reports]
    held: list[str] = []

    def released_once_held() -> bool:
        """Once the agent waits: nothing handled yet; then make room."""
        if worker.disk.problem is not None and not held:
            assert sink.on("reporter.stats") == []
            held.append(worker.disk.problem)
            worker.disk.min_free_mb = 0
        return len(sink.on("reporter.stats")) == 3

    await put_to(
        worker.weigh_reports,
        worker.settings.topic("reports.by_reporter"),
        records,
        released_once_held,
    )
    assert "CHATGUARD_DATA_MIN_FREE_MB" in held[0] and str(worker.settings.data_dir) not in held[0]
    assert worker.disk.problem is None
