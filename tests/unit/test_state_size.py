"""The state gauges' sums over real RocksDB databases (``streams.state_size``)."""

from __future__ import annotations

import time
from pathlib import Path

from rocksdict import Options, Rdict

from streams import metrics
from streams.recent_events import RecentEvents
from streams.state_size import StoreSize, database_size, report, total_size


def _db(path: Path, keys: int) -> Rdict:
    db = Rdict(str(path), Options(raw_mode=True))
    for i in range(keys):
        db[f"key-{i}".encode()] = b"v" * 200
    return db


def test_an_empty_database_counts_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path / "empty", 0)
    try:
        assert database_size(db) == StoreSize(0, 0)
    finally:
        db.close()


def test_entries_and_bytes_are_summed_over_databases_in_memtables_and_files(
    tmp_path: Path,
) -> None:
    small, large = _db(tmp_path / "small", 10), _db(tmp_path / "large", 1_000)
    try:
        assert database_size(small).entries == 10
        before_flush = total_size([small, large])
        assert before_flush.entries == 1_010
        assert before_flush.bytes >= 1_000 * 200  # the memtable holds the raw values
        large.flush()
        flushed = database_size(large)
        assert flushed.entries == 1_000 and flushed.bytes > 0  # now in an SST file
        assert total_size([small, large]) == database_size(small) + flushed
    finally:
        small.close()
        large.close()


def test_recent_events_offers_the_generations_a_lookup_reads(tmp_path: Path) -> None:
    store = RecentEvents(tmp_path / "recent", window_s=60.0)
    try:
        now = time.time()
        assert store.databases(now) == []
        store.add([("e1", "a1")], at=now - 60, partition=0, offset=0)  # the previous window
        store.add([("e2", "a2"), ("e3", "a3")], at=now, partition=0, offset=1)
        # two keys an event: the last account its id came from, and the (id, account) pair
        assert total_size(store.databases(now)).entries == 6
        assert total_size(store.databases(now + 120)).entries == 0  # both out of the window
    finally:
        store.close()


def test_report_sets_one_gauge_per_store() -> None:
    report({"campaign-bands": StoreSize(3, 1_200), "recent-events": StoreSize(0, 0)})
    exposed = metrics.render().decode()
    assert 'chatguard_state_entries{store="campaign-bands"} 3.0' in exposed
    assert 'chatguard_state_bytes{store="campaign-bands"} 1200.0' in exposed
    assert 'chatguard_state_entries{store="recent-events"} 0.0' in exposed
