"""The recent-events store on disk: lookups, expiry by window generation, and where each
``events.by_id`` partition was folded up to (no broker needed)."""

from __future__ import annotations

import math
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


def test_a_forged_time_opens_no_database_and_raises_nothing(tmp_path: Path) -> None:
    """``seen`` records are forgeable without a fleet key. Times far ahead opened a database
    per window named (200 of them held 1,212 file handles), and an infinite or huge one raised
    on every replay. Only the windows a lookup reads, and the next, are kept."""
    store = RecentEvents(tmp_path / "recent", WINDOW)
    now = time.time()
    forged = [now + k * WINDOW for k in range(2, 50)] + [1e300, math.inf, -math.inf, math.nan]
    for offset, at in enumerate(forged):
        store.add([(f"f{offset}", "mallory")], at, partition=0, offset=offset)
    store.add([("ahead", "alice")], now + WINDOW, partition=0, offset=len(forged))
    assert store.next_offset(0) == len(forged) + 1
    assert len(list((tmp_path / "recent").glob("window-*"))) == 1  # the next window's
    assert store.account("ahead", now + WINDOW) == "alice"


def test_an_event_id_another_account_reused_still_names_its_first_sender(tmp_path: Path) -> None:
    """Event ids come from clients: a second account that sent messages under an abuser's ids
    made every report against the abuser an account_mismatch. Each account an id came from is
    known; an account it never came from gets the last one that sent it."""
    store = RecentEvents(tmp_path / "recent", WINDOW)
    now = time.time()
    store.add([("e1", "abuser")], now, partition=0, offset=0)
    store.add([("e1", "sock-puppet")], now, partition=0, offset=1)
    assert store.account("e1", now, claimed="abuser") == "abuser"
    assert store.account("e1", now, claimed="sock-puppet") == "sock-puppet"
    assert store.account("e1", now, claimed="innocent") == "sock-puppet"
    assert store.account("e1", now) == "sock-puppet"
    # an id that ends like another pair, or a name that does: never a match by accident
    store.add([("e1x", "y")], now, partition=0, offset=2)
    assert store.account("e1", now, claimed="xy") == "sock-puppet"
    assert store.account("e1", now + WINDOW, claimed="abuser") == "abuser"  # the next window too


def test_a_reporter_counts_once_per_event_whatever_its_report_ids(tmp_path: Path) -> None:
    """One reporter filed 10,000 report ids against one message and its record counted
    10,000 reports (an outside probe); a report read again is still counted (at least once)."""
    store = RecentEvents(tmp_path, WINDOW)
    now = 10 * WINDOW + 1
    assert store.first_report("evt-1", "reporter-1", "r1", now)
    assert store.first_report("evt-1", "reporter-1", "r1", now)  # the same report again
    assert not store.first_report("evt-1", "reporter-1", "r2", now)
    assert store.first_report("evt-1", "reporter-2", "r3", now)
    assert store.first_report("evt-2", "reporter-1", "r4", now)
    # an event id that ends like a reporter's name is another key
    assert store.first_report("evt-1r", "eporter-1", "r5", now)
    # a window later it is still remembered; two windows later it is gone with its generation
    assert not store.first_report("evt-1", "reporter-1", "r6", now + WINDOW)
    assert store.first_report("evt-1", "reporter-1", "r7", now + 2 * WINDOW)
    # no report marker passes for an event seen from an account
    assert store.account("evt-1", now + 2 * WINDOW) is None
