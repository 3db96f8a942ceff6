"""Agents on internal topics handle a batch at a time: one hand-over to the sink per batch, not
one delivery wait per record (30-60 records a second, which let a flood of forged reports hold
an honest one for minutes), and each record's table write still goes to its own partition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from faust.types import Message

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


def _verified(n: int) -> dict[str, Any]:
    return {"kind": "verified", "report_id": f"rep-{n}", "reporter_id": f"reporter-{n}"}


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
    # each reporter's report, then the verification that counts it in the reporter's record
    records = [record for n in range(REPORTS) for record in (_report(n), _verified(n))]
    partitions = [n % 4 for n in range(REPORTS) for _ in range(2)]
    await put_to(
        worker.weigh_reports,
        worker.settings.topic("reports.by_reporter"),
        [(r["reporter_id"].encode(), orjson.dumps(r)) for r in records],
        lambda: len(counting.on("reporter.stats")) >= REPORTS,
        partitions=partitions,
    )
    weighed = counting.on("events.by_id")
    assert sorted(w["report_id"] for w in weighed) == sorted(f"rep-{n}" for n in range(REPORTS))
    assert all(s["reports"] == 1 for s in counting.on("reporter.stats"))
    # a batch is up to batch_size records: far fewer hand-overs than records
    assert counting.calls <= 2 * REPORTS // worker.settings.batch_size + 2, counting.calls
    # each reporter's entry went to the changelog partition of the record that changed it
    where = {key: partition for partition, key in changelog}
    assert where == {f"reporter-{n}": n % 4 for n in range(REPORTS)}


async def test_a_report_writes_no_state_until_it_is_verified(
    worker: Worker, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report is weighed and sent on, but counts in its reporter's record only once verified:
    each report of an event that never existed, from a made-up reporter, wrote an entry for
    good (a flood of 20,000 grew the store 0.30 → 2.26 MB) and a ``reporter.stats`` record."""
    written: list[Any] = []
    table = worker.reporters_table
    sent = table.send_changelog

    def recording(partition: int | None, key: Any, value: Any, *args: Any, **kw: Any) -> Any:
        written.append(key)
        return sent(partition, key, value, *args, **kw)

    monkeypatch.setattr(table, "send_changelog", recording)
    reports = [_report(n) for n in range(3)]
    await put_to(
        worker.weigh_reports,
        worker.settings.topic("reports.by_reporter"),
        [(r["reporter_id"].encode(), orjson.dumps(r)) for r in [*reports, _verified(1)]],
        lambda: len(sink.on("reporter.stats")) >= 1,
    )
    weighed = sink.on("events.by_id")
    assert sorted(w["report_id"] for w in weighed) == ["rep-0", "rep-1", "rep-2"]
    assert all(w["weight"] == 0.5 for w in weighed)  # a newcomer's reliability
    assert [(s["reporter_id"], s["reports"]) for s in sink.on("reporter.stats")] == [
        ("reporter-1", 1)
    ]
    assert written == ["reporter-1"]


async def test_a_stateful_agent_holds_its_batch_while_the_data_disk_is_short_of_room(
    worker: Worker, sink: RecordingSink
) -> None:
    """On a full disk RocksDB's error reached Faust's changelog callback and stopped the worker.
    Under ``CHATGUARD_DATA_MIN_FREE_MB`` an agent that writes a table holds its batch (unacked),
    says why, and once there is room the batch goes through. Reports that arrive while it
    waits are each weighed once after it: the first version of this swapped the one that
    arrived first for one of the held batch (handled twice, the new one never)."""
    worker.disk.min_free_mb = 1 << 40  # more than any disk has: short of room
    agent = worker.weigh_reports
    topic = worker.settings.topic("reports.by_reporter")
    loop = asyncio.get_running_loop()
    async with agent.test_context() as context:
        channel = context.stream().channel
        generation = agent.app.consumer_generation_id

        async def put(offsets: range) -> None:
            for offset in offsets:
                report = _verified(offset)
                message = Message(
                    topic,
                    0,
                    offset,
                    time.time(),
                    0,
                    None,
                    report["reporter_id"].encode(),
                    orjson.dumps(report),
                    None,
                    generation_id=generation,
                )
                await channel.put(await channel.decode(message))

        async def until(done: Callable[[], bool]) -> None:
            deadline = loop.time() + 10
            while not done():
                assert loop.time() < deadline, "the agent did not get there"
                await asyncio.sleep(0.02)

        await put(range(3))
        await until(lambda: worker.disk.problem is not None)
        problem = worker.disk.problem
        assert problem is not None and "CHATGUARD_DATA_MIN_FREE_MB" in problem
        assert str(worker.settings.data_dir) not in problem
        await put(range(3, 6))  # arrive while the batch waits
        await asyncio.sleep(0.2)  # let the background reader take them in
        assert sink.on("reporter.stats") == []  # held, not handled
        worker.disk.min_free_mb = 0  # room again
        await until(lambda: len(sink.on("reporter.stats")) >= 6)
    weighed = sorted(s["reporter_id"] for s in sink.on("reporter.stats"))
    assert weighed == sorted(f"reporter-{n}" for n in range(6))
    assert worker.disk.problem is None


async def test_a_campaign_sends_an_account_to_review_once_and_may_then_restrict_it_once(
    worker: Worker, sink: RecordingSink
) -> None:
    """A campaign member record says what its campaign does to the account: review for a
    campaign harmful on review flags alone, restrict once it rests on blocks. Each at most once
    per campaign; a restrict after a review is the campaign turning, and a review after a
    restrict adds nothing."""

    def member(event_id: str, action: str, campaign: str = "cmp-00112233aabbccdd") -> Any:
        record = {
            "kind": "campaign_member",
            "account_id": "acct-1",
            "campaign_id": campaign,
            "event_id": event_id,
            "category": "spam",
            "at": time.time(),
            "action": action,
        }
        return b"acct-1", orjson.dumps(record)

    records = [
        member("e1", "review_account"),
        member("e2", "review_account"),
        member("e3", "restrict"),
        member("e4", "restrict"),
        member("e5", "review_account"),
        member("e6", "restrict", campaign="cmp-99112233aabbccdd"),
    ]
    await put_to(
        worker.escalate_members,
        worker.settings.topic("campaign.members"),
        records,
        lambda: any(a["evidence"][1] == "e6" for a in sink.on("account.actions")),
    )
    actions = [(a["action"], a["evidence"][1]) for a in sink.on("account.actions")]
    assert actions == [("review_account", "e1"), ("restrict", "e3"), ("restrict", "e6")]


async def test_a_burst_of_one_accounts_strikes_writes_its_state_once_a_batch(
    worker: Worker, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spammer blocked again and again sends a burst of strike signals, and each one rewrote
    the account's whole state (up to about 80 KB) to the strikes changelog: 100 bytes of
    changelog per byte of strikes in the stream benchmark. A batch now writes each account's
    state once, with the same counts and the same actions as one write per signal."""
    accounts, per_account = 3, 120
    table = worker.strikes_table.table  # the windowed wrapper's table, which writes the log
    sent = table.send_changelog
    changelog: list[tuple[int | None, Any]] = []

    def recording(partition: int | None, key: Any, value: Any, *args: Any, **kw: Any) -> Any:
        changelog.append((partition, key))
        return sent(partition, key, value, *args, **kw)

    monkeypatch.setattr(table, "send_changelog", recording)
    now = time.time()
    records = [
        (
            f"acct-{a}".encode(),
            orjson.dumps(
                {
                    "signal_id": f"block:{a}-{i}",
                    "kind": "block",
                    "event_id": f"evt-{a}-{i}",
                    "account_id": f"acct-{a}",
                    "categories": ["spam"],
                    "weight": 1.0,
                    "at": now,
                }
            ),
        )
        for i in range(per_account)
        for a in range(accounts)
    ]

    def counted() -> bool:
        states = [worker.strikes_table[f"acct-{a}"].now() or {} for a in range(accounts)]
        return all(state.get("strikes") == per_account for state in states)

    await put_to(
        worker.enforce_accounts,
        worker.settings.topic("account.strikes"),
        records,
        counted,
        partitions=[n % accounts for n in range(len(records))],
    )
    # a batch is up to batch_size records: far fewer writes than signals
    assert len(changelog) <= accounts * (len(records) // worker.settings.batch_size + 2)
    # each account's state went to the partition its signals came from
    assert {key[0] if isinstance(key, tuple) else key: p for p, key in changelog} == {
        f"acct-{a}": a for a in range(accounts)
    }
    actions = sorted((a["account_id"], a["action"]) for a in sink.on("account.actions"))
    assert actions == sorted(
        (f"acct-{a}", action) for a in range(accounts) for action in ("restrict", "suspend")
    )
    for a in range(accounts):
        assert len(worker.strikes_table[f"acct-{a}"].now()["signals"]) == per_account
