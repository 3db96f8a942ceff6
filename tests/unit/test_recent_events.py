"""The recent-events store on disk: lookups, expiry by window generation, and where each
``events.by_id`` partition was folded up to (no broker needed)."""

from __future__ import annotations

import time
from pathlib import Path

from streams.recent_events import RecentEvents

WINDOW = 3_600.0


def test_an_event_counts_for_its_window_and_the_next_then_is_gone(tmp_path: Path) -> None:
    store = RecentEvents(tmp_path / "recent", WINDOW)
    now = time.time()
    store.add([("e1", "alice"), ("e2", "bob")], now, partition=3, offset=41)
    assert store.account("e1", now) == "alice"
    assert store.account("e2", now + WINDOW) == "bob"  # the window after: still counts
    assert store.account("e1", now + 2 * WINDOW) is None  # two windows on: out
    assert store.account("unknown", now) is None


def test_old_generations_are_deleted_whole(tmp_path: Path) -> None:
    store = RecentEvents(tmp_path / "recent", WINDOW)
    now = time.time()
    store.add([("old", "alice")], now - WINDOW, partition=0, offset=0)
    store.add([("ancient", "carol")], now - 5 * WINDOW, partition=0, offset=1)  # not kept
    assert store.account("old", now) == "alice"
    assert store.account("ancient", now - 5 * WINDOW) is None
    generations = sorted(p.name for p in (tmp_path / "recent").glob("window-*"))
    assert generations == [f"window-{int((now - WINDOW) // WINDOW)}"]


def test_the_next_offset_to_fold_survives_a_restart(tmp_path: Path) -> None:
    store = RecentEvents(tmp_path / "recent", WINDOW)
    assert store.next_offset(5) is None  # never followed here: replay from the window start
    store.add([("e1", "alice")], time.time(), partition=5, offset=99)
    store.folded(5, 120)  # a report record: nothing to store, but folded
    store.close()
    reopened = RecentEvents(tmp_path / "recent", WINDOW)
    assert reopened.next_offset(5) == 121
    assert reopened.account("e1") == "alice"
    assert reopened.next_offset(4) is None
