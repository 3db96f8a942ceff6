"""The windowed tables' expiry index: one heap entry per partition and window, keys still expire."""

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


def _windowed_table(tmp_path: Path) -> Any:
    app = create_app(Settings(data_dir=tmp_path, web_enabled=False))
    table = app.Table("strikes", default=dict, partitions=4).tumbling(DAY, expires=2 * DAY)
    return table.table


def _window(start: float) -> tuple[float, float]:
    return (start, start + DAY - 0.1)


def test_the_app_makes_its_tables_with_the_one_entry_per_window_index(tmp_path: Path) -> None:
    assert isinstance(_windowed_table(tmp_path), WindowIndexTable)


def test_many_writes_to_one_window_push_one_heap_entry_per_partition(tmp_path: Path) -> None:
    table = _windowed_table(tmp_path)
    today, yesterday = _window(1_800_000_000.0), _window(1_800_000_000.0 - DAY)
    for i in range(10_000):
        table._maybe_set_key_ttl((f"account-{i % 50}", today), i % 2)
    table._maybe_set_key_ttl(("account-0", yesterday), 0)

    # Faust's own index pushed one entry per write: 10,001 here
    assert sorted(table._partition_timestamps[0]) == [yesterday[1], today[1]]
    assert table._partition_timestamps[1] == [today[1]]
    assert len(table._partition_timestamp_keys[(0, today[1])]) == 25
    assert len(table._partition_timestamp_keys[(1, today[1])]) == 25
    assert table._partition_latest_timestamp[0] == today[1]


def test_the_keys_of_one_window_share_its_range(tmp_path: Path) -> None:
    table = _windowed_table(tmp_path)
    for i in range(3):
        table._maybe_set_key_ttl((f"account-{i}", _window(1_800_000_000.0)), 0)
    ranges = {
        id(key[1]) for key in table._partition_timestamp_keys[(0, _window(1_800_000_000.0)[1])]
    }
    assert len(ranges) == 1


@pytest.mark.asyncio
async def test_expired_windows_still_lose_every_key_and_live_ones_keep_theirs(
    tmp_path: Path,
) -> None:
    table = _windowed_table(tmp_path)
    now = time.time()
    old, live = _window(now - 5 * DAY), _window(now - now % DAY)
    for key in [("a", old), ("b", old), ("a", live)]:
        table.data[key] = {"strikes": 1}
        table._maybe_set_key_ttl(key, 0)
        table._maybe_set_key_ttl(key, 0)  # written twice, indexed once

    await table._del_old_keys()

    assert ("a", old) not in table.data and ("b", old) not in table.data
    assert table.data[("a", live)] == {"strikes": 1}
    assert table._partition_timestamps[0] == [live[1]]
    assert (0, old[1]) not in table._partition_timestamp_keys

    # a late write to a window already expired is indexed again and goes at the next clean-up
    table.data[("c", old)] = {"strikes": 1}
    table._maybe_set_key_ttl(("c", old), 0)
    await table._del_old_keys()
    assert ("c", old) not in table.data


def _stored_table(tmp_path: Path) -> Any:
    app = create_app(Settings(data_dir=tmp_path, web_enabled=False))
    table = app.Table("strikes", default=dict, partitions=2, store="rocksdb:test-strikes")
    return table.tumbling(DAY, expires=2 * DAY).table


def _raw(key: str, window: tuple[float, float]) -> bytes:
    return orjson.dumps([key, list(window)])


@pytest.mark.asyncio
async def test_keys_a_restarted_worker_finds_on_disk_expire_too(tmp_path: Path) -> None:
    now = time.time()
    old, live = _window(now - 5 * DAY), _window(now - now % DAY)
    table = _stored_table(tmp_path)
    db = table.data._db_for_partition(0)
    for raw in [_raw("a", old), _raw("b", old), _raw("a", live), b"not a window key"]:
        db.put(raw, b"{}")

    await table.on_recovery_completed(set(), set())

    # Faust indexed only what a worker wrote itself: these four stayed on disk for good
    assert sorted(db.keys()) == sorted([_raw("a", live), b"not a window key"])
    assert table._partition_timestamp_keys[(0, live[1])] == {("a", live)}

    # read once per opened database, and again when the partition's database is opened anew
    db.put(_raw("c", old), b"{}")
    await table.on_recovery_completed(set(), set())
    assert db.get(_raw("c", old)) is not None
    table.data._dbs[0] = db = table.data._db_for_partition(1)
    db.put(_raw("c", old), b"{}")
    await table.on_recovery_completed(set(), set())
    assert db.get(_raw("c", old)) is None
