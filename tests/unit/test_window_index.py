"""Windowed tables on RocksDB: expired keys go from disk, and nothing per key stays in memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatguard.settings import Settings
from streams.app import create_app
from streams.window_index import WindowIndexTable

DAY = 86_400.0


def _stored_table(tmp_path: Path) -> Any:
    app = create_app(Settings(data_dir=tmp_path, web_enabled=False))
    table = app.Table("strikes", default=dict, partitions=2, store="rocksdb:test-strikes")
    return table.tumbling(DAY, expires=2 * DAY).table


def _window(start: float) -> tuple[float, float]:
    return (start, start + DAY - 0.1)


def _today() -> tuple[float, float]:
    now = time.time()
    return _window(now - now % DAY)


def _long_ago() -> tuple[float, float]:
    return _window(_today()[0] - 5 * DAY)


def _write(table: Any, partition: int, key: str, window: tuple[float, float]) -> bytes:
    """What Faust does for ``table[key]`` in a window: the value on disk, then the index."""
    raw = orjson.dumps([key, list(window)])
    table.data._db_for_partition(partition).put(raw, b'{"strikes": 1}')
    table._maybe_set_key_ttl((key, window), partition)
    return raw


def _stored(table: Any, partition: int) -> list[bytes]:
    return sorted(table.data._db_for_partition(partition).keys())


def test_the_app_makes_its_tables_with_this_index(tmp_path: Path) -> None:
    assert isinstance(_stored_table(tmp_path), WindowIndexTable)


def test_writes_leave_one_heap_entry_per_partition_and_window_and_no_key_in_memory(
    tmp_path: Path,
) -> None:
    table = _stored_table(tmp_path)
    today, yesterday = _today(), _window(_today()[0] - DAY)
    for i in range(5_000):
        _write(table, i % 2, f"account-{i}", today)
    _write(table, 0, "account-0", yesterday)

    # Faust's own index held a heap entry per write (5,001) and every key (5,001)
    assert sorted(table._partition_timestamps[0]) == [yesterday[1], today[1]]
    assert table._partition_timestamps[1] == [today[1]]
    assert not any(table._partition_timestamp_keys.values())
    assert table._partition_latest_timestamp[0] == today[1]


@pytest.mark.asyncio
async def test_an_expired_window_loses_every_key_from_disk_and_live_ones_stay(
    tmp_path: Path,
) -> None:
    table = _stored_table(tmp_path)
    old, live = _long_ago(), _today()
    _write(table, 0, "a", old)
    _write(table, 0, "b", old)
    kept = _write(table, 0, "a", live)
    other_partition = _write(table, 1, "c", live)

    await table._del_old_keys()

    assert _stored(table, 0) == [kept]
    assert _stored(table, 1) == [other_partition]
    assert table._partition_timestamps[0] == [live[1]]

    # a late write to a window already expired goes at the next clean-up
    _write(table, 0, "d", old)
    await table._del_old_keys()
    assert _stored(table, 0) == [kept]


@pytest.mark.asyncio
async def test_keys_a_restarted_worker_finds_on_disk_expire_too(tmp_path: Path) -> None:
    old, live = _long_ago(), _today()
    table = _stored_table(tmp_path)
    db = table.data._db_for_partition(0)
    stale = [orjson.dumps([k, list(old)]) for k in ("a", "b")]
    fresh = orjson.dumps(["a", list(live)])
    for raw in [*stale, fresh, b"not a window key"]:
        db.put(raw, b"{}")

    await table.on_recovery_completed(set(), set())

    # Faust indexed only what a worker wrote itself: these stayed on disk for good
    assert sorted(db.keys()) == sorted([fresh, b"not a window key"])
    assert table._partition_timestamps[0] == [live[1]]

    # read once per opened database, and again when the partition's database is opened anew
    db.put(stale[0], b"{}")
    await table.on_recovery_completed(set(), set())
    assert db.get(stale[0]) is not None
    table.data._dbs[0] = reopened = table.data._db_for_partition(1)
    reopened.put(stale[0], b"{}")
    await table.on_recovery_completed(set(), set())
    assert reopened.get(stale[0]) is None
