"""The strike rule: one action per level, replays counted once."""

from __future__ import annotations

import dataclasses
import random
import types
import uuid
from typing import Any

import orjson
import pytest

from streams.enforcement import (
    MAX_CATEGORIES,
    MAX_SIGNALS,
    STRIKE_GRAIN_S,
    _within,
    apply_strike,
    carried_over,
    growth_bound,
    signal_key,
    stale_signal,
)
from streams.records import StrikeSignal


def strike(signal: str, weight: float = 1.0, category: str = "fraud") -> dict[str, Any]:
    return {
        "signal_id": signal,
        "event_id": f"evt-{signal}",
        "categories": [category],
        "weight": weight,
    }


def run(signals: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str | None]]:
    state: dict[str, Any] = {}
    actions = []
    for signal in signals:
        state, action = apply_strike(state, signal, restrict_at=3, suspend_at=6)
        actions.append(action)
    return state, actions


def test_restrict_once_then_suspend_once() -> None:
    state, actions = run([strike(f"s{i}") for i in range(8)])
    assert actions == [None, None, "restrict", None, None, "suspend", None, None]
    assert state["strikes"] == 8 and state["level"] == "suspend"
    assert state["evidence"] == [f"evt-s{i}" for i in range(8)]


def test_a_replayed_signal_counts_once() -> None:
    state, actions = run([strike("a"), strike("a"), strike("b"), strike("a")])
    assert state["strikes"] == 2 and actions == [None, None, None, None]


def test_weights_and_categories_add_up() -> None:
    state, actions = run(
        [strike("r1", 0.5, "spam"), strike("r2", 0.5, "spam"), strike("b1", 2.0, "fraud")]
    )
    assert actions[-1] == "restrict"
    assert state["categories"] == {"spam": 1.0, "fraud": 2.0}


def test_made_up_categories_do_not_grow_an_accounts_state() -> None:
    """Strikes naming new categories each time (forged, on a fleet without a key) keep at
    most ``MAX_CATEGORIES``, the heaviest; every strike still counts."""
    forged = [
        {**strike(f"f{i}", 0.001), "categories": [f"made-up-{i}-{j}" for j in range(64)]}
        for i in range(50)
    ]
    state, _ = run([strike("real", 2.0, "fraud"), *forged])
    assert len(state["categories"]) == MAX_CATEGORIES
    assert state["categories"]["fraud"] == 2.0
    assert state["strikes"] == pytest.approx(2.0 + 50 * 0.001)


def test_jumping_past_both_levels_suspends_directly() -> None:
    _, actions = run([strike("big", 7.0)])
    assert actions == ["suspend"]


DAY = 86_400.0


def _struck(times: list[float], state: dict[str, Any] | None = None) -> dict[str, Any]:
    state = state or {}
    for i, at in enumerate(times):
        state, _ = apply_strike(state, strike(f"t{at}-{i}"), restrict_at=3, suspend_at=6, at=at)
    return state


def test_strikes_on_both_sides_of_a_windows_end_add_up() -> None:
    """Two strikes just before the window's end and one just after: three within a day, a
    restrict, as for three on one side."""
    end = 100 * DAY
    before = _struck([end - 20, end - 10])
    state = carried_over(before, end, DAY, restrict_at=3, suspend_at=6)
    assert state["strikes"] == 2 and state["signals"] == before["signals"]
    _, action = apply_strike(state, strike("after"), restrict_at=3, suspend_at=6, at=end)
    assert action == "restrict"
    # a replayed signal of the previous window still counts once
    first = f"t{end - 20}-0"
    assert before["signals"][0] == signal_key(first)
    again, action = apply_strike(state, strike(first), restrict_at=3, suspend_at=6)
    assert again is state and action is None


def test_only_strikes_within_the_window_carry_over_with_the_level_they_still_hold() -> None:
    end = 100 * DAY
    old_and_new = _struck([end - DAY - 5, end - 2 * 3_600, end - 3_600, end - 60])
    assert old_and_new["strikes"] == 4 and old_and_new["level"] == "restrict"
    state = carried_over(old_and_new, end, DAY, restrict_at=3, suspend_at=6)
    assert state["strikes"] == 3 and len(state["struck"]) == 3
    assert state["level"] == "restrict"  # still three: no second restrict for them
    # carried strikes age out in the new window too
    aged, _ = apply_strike(
        state, strike("x"), restrict_at=3, suspend_at=6, at=end + DAY - 3_000, window_s=DAY
    )
    assert aged["strikes"] == 2  # the one of end - 60 and this one
    fewer = carried_over(old_and_new, end + DAY - 3_000, DAY, restrict_at=3, suspend_at=6)
    assert fewer["strikes"] == 1 and fewer["level"] == ""  # a restrict comes again at three
    assert carried_over(old_and_new, end + 2 * DAY, DAY, restrict_at=3, suspend_at=6) == {}
    # a suspended account whose recent strikes no longer reach six is restricted, not cleared
    suspended = _struck([end - 60 * i for i in range(6, 0, -1)])
    assert suspended["level"] == "suspend"
    later = carried_over(suspended, end - 60 * 4 + DAY, DAY, restrict_at=3, suspend_at=6)
    assert later["strikes"] == 4 and later["level"] == "restrict"


def test_an_account_offending_again_after_its_strikes_aged_out_is_restricted_again() -> None:
    """Three strikes restrict; a day later they have aged out, and three new ones in the same
    calendar window restrict again (the level dropped only when a new window began: an outside
    probe's account re-offended within the window and got no second restrict)."""
    start = 100 * DAY
    actions = []
    state: dict[str, Any] = {}
    for i, at in enumerate([start + 1, start + 2, start + 3, start + DAY + 10, start + DAY + 20]):
        state, action = apply_strike(
            state, strike(f"s{i}"), restrict_at=3, suspend_at=6, at=at, window_s=DAY
        )
        actions.append(action)
    assert actions == [None, None, "restrict", None, None] and state["strikes"] == 2
    state, action = apply_strike(
        state, strike("s5"), restrict_at=3, suspend_at=6, at=start + DAY + 30, window_s=DAY
    )
    assert action == "restrict" and state["strikes"] == 3
    # within the window, the level holds: no second restrict while the strikes still reach it
    state, action = apply_strike(
        state, strike("s6"), restrict_at=3, suspend_at=6, at=start + DAY + 40, window_s=DAY
    )
    assert action is None and state["level"] == "restrict"


def report(reporter: str, weight: float = 0.5, n: int = 1) -> dict[str, Any]:
    return {
        "kind": "report",
        "signal_id": f"rep:{reporter}-{n}",
        "event_id": f"e-{reporter}-{n}",
        "reporter_id": reporter,
        "report_id": f"{reporter}-{n}",
        "categories": ["spam"],
        "weight": weight,
    }


def _reported(
    state: dict[str, Any], signal: dict[str, Any], at: float
) -> tuple[dict[str, Any], str | None]:
    return apply_strike(state, signal, restrict_at=3, suspend_at=6, at=at, window_s=DAY)


def _carried(state: dict[str, Any], at: float) -> dict[str, Any]:
    return carried_over(state, at, DAY, restrict_at=3, suspend_at=6, review_at=1.0)


def test_a_reporter_on_both_sides_of_a_windows_end_counts_once() -> None:
    """Per calendar window, one reporter reporting before 00:00 UTC and again after counted
    twice; over the sliding window it counts once, and two reporters either side add up."""
    end = 100 * DAY
    before, action = _reported({}, report("r1", 0.6), end - 30)
    assert action is None
    state = _carried(before, end)
    assert state["report_score"] == 0.6 and state["reporters"] == ["r1"]
    again, action = _reported(state, report("r1", 0.6, n=2), end + 30)
    assert again is state and action is None
    _, action = _reported(state, report("r2", 0.6), end + 30)
    assert action == "review_account"


def test_reports_older_than_the_window_do_not_carry_and_review_is_not_given_twice() -> None:
    end = 100 * DAY
    state, _ = _reported({}, report("r1", 0.6), end - DAY + 60)
    state, action = _reported(state, report("r2", 0.6), end - 60)
    assert action == "review_account" and state["level"] == "review"
    carried = _carried(state, end)
    assert carried["report_score"] == 1.2 and carried["level"] == "review"
    _, action = _reported(carried, report("r3", 0.6), end + 10)
    assert action is None  # still in review for the same reports
    # later the first report has aged out: r1 may count again, and the account is not in
    # review any more once its recent reports no longer reach the threshold
    later = _carried(state, end + 120)
    assert later["report_score"] == 0.6 and later["level"] == ""
    assert later["reporters"] == ["r2"]
    assert _carried(state, end + DAY) == {}
    _, action = _reported(later, report("r1", 0.6, n=2), end + 180)
    assert action == "review_account"


def test_strikes_carry_without_reports_and_reports_without_strikes() -> None:
    state, _ = _reported({}, report("r1"), 0.0)
    carried = _carried(state, 1.0)
    assert carried["strikes"] == 0 and carried["report_score"] == 0.5
    state = _struck([0.0], {"level": ""})
    carried = _carried(state, 1.0)
    assert carried["strikes"] == 1 and "reporters" not in carried and "report_score" not in carried


def test_a_state_without_times_keeps_counting_after_an_upgrade() -> None:
    """A state written before strikes and reports kept their times has totals only. Its
    strikes and reporters still count at the first signal after the upgrade (they were dropped
    before: two strikes and a third made one, and a reporter of the day counted again), and
    age out a window after it."""
    untimed, actions = run([strike("a"), strike("b")])
    assert actions == [None, None] and "struck" not in untimed
    upgraded_at = 100 * DAY
    state, action = apply_strike(
        untimed, strike("c"), restrict_at=3, suspend_at=6, at=upgraded_at, window_s=DAY
    )
    assert action == "restrict" and state["strikes"] == 3
    later, _ = apply_strike(
        state, strike("d"), restrict_at=3, suspend_at=6, at=upgraded_at + DAY + 1, window_s=DAY
    )
    assert later["strikes"] == 1  # the two untimed strikes and "c" aged out together

    reported: dict[str, Any] = {}
    for reporter in ("r1", "r2"):
        reported, _ = apply_strike(reported, report(reporter, 0.4), restrict_at=3, suspend_at=6)
    assert "reported_at" not in reported and reported["report_score"] == 0.8
    again, action = _reported(reported, report("r1", 0.4, n=2), upgraded_at)
    assert action is None and again["report_score"] == pytest.approx(0.8)
    _, action = _reported(again, report("r3", 0.4), upgraded_at + 1)
    assert action == "review_account"  # 0.8 before the upgrade and 0.4 after


def test_a_flood_of_forged_signals_keeps_an_accounts_state_far_below_a_record() -> None:
    """Signals with 256-character ids and 64 made-up categories each, from 1,200 reporters and
    1,200 blocks: the state grew to 21 MB (a changelog record holds 1 MB). The newest of each
    list stay, and signals are kept as keys of one size, so a replay of any of the last 1,000
    still counts once whatever the length of their ids (with ids kept whole, only the newest
    187 of 256 characters fitted)."""
    long_id = "x" * 256
    state: dict[str, Any] = {}
    for i in range(1_200):
        made_up = [f"{j}-{i}{long_id}"[:256] for j in range(64)]
        signal = report(f"{i}{long_id}"[:256]) | {"signal_id": f"{i}{long_id}"[:256]}
        signal |= {"report_id": signal["signal_id"], "categories": made_up, "weight": 0.0}
        state, _ = _reported(state, signal, 1_000.0 + i)
        blocked = strike(f"b{i}{long_id}"[:256], 0.0) | {"categories": made_up}
        state, _ = apply_strike(
            state, blocked, restrict_at=3, suspend_at=6, at=1_000.0 + i, window_s=DAY
        )
    assert len(orjson.dumps(state)) < 300_000
    assert len(state["reported"]) <= MAX_CATEGORIES and len(state["categories"]) <= MAX_CATEGORIES
    assert state["signals"][-1] == signal_key(f"b1199{long_id}"[:256])  # the newest stay
    assert len(state["signals"]) == MAX_SIGNALS
    oldest_kept = f"{1_200 - MAX_SIGNALS // 2}{long_id}"[:256]  # a report's, 1,000 signals ago
    # from a reporter not seen before: only the signal's key can tell it is a replay
    replayed = report("a-new-reporter") | {"signal_id": oldest_kept}
    again, _ = _reported(state, replayed, 3_000.0)
    assert again is state

    uuids = [str(uuid.UUID(int=i)) for i in range(1_000)]
    state = {}
    for signal_id in uuids:
        state, _ = apply_strike(state, strike(signal_id, 0.0), restrict_at=3, suspend_at=6, at=1.0)
    assert state["signals"] == [signal_key(u) for u in uuids]
    again, _ = apply_strike(state, strike(uuids[0], 0.0), restrict_at=3, suspend_at=6, at=2.0)
    assert again is state


def test_a_state_from_before_signal_keys_still_knows_its_whole_ids() -> None:
    """Written by a version that kept signal ids whole: a replay of one counts once, and the
    signals after it are kept as keys beside them."""
    old = {"strikes": 1.0, "evidence": ["e1"], "signals": ["block:e1"], "level": ""}
    again, _ = apply_strike(
        old, strike("block:e1") | {"event_id": "e9"}, restrict_at=3, suspend_at=6
    )
    assert again is old
    state, _ = apply_strike(
        old, strike("block:e2") | {"event_id": "e2"}, restrict_at=3, suspend_at=6
    )
    assert state["signals"] == ["block:e1", signal_key("block:e2")]
    again, _ = apply_strike(
        state, strike("block:e2") | {"event_id": "e7"}, restrict_at=3, suspend_at=6
    )
    assert again is state


def test_signal_keys_are_short_and_distinct() -> None:
    ids = [f"block:{uuid.UUID(int=i)}" for i in range(20_000)] + ["x" * 256, "\udcff", ""]
    keys = {signal_key(i) for i in ids}
    assert len(keys) == len(ids) and {len(k) for k in keys} == {12}


def _block(event_id: str, text: str) -> dict[str, Any]:
    signal = StrikeSignal.blocked(_decision(event_id), text)
    return dataclasses.asdict(signal)


def _decision(event_id: str) -> Any:
    return types.SimpleNamespace(
        event_id=event_id, account_id="acct", triggered=("spam",), decided_at=1.0
    )


def test_an_event_id_reused_for_other_texts_counts_each_text() -> None:
    """A client that sends every message under one id: each text is an event, so three blocked
    texts restrict; the same text under the same id (a producer's retry) counts once."""
    state, actions = run([_block("reused", f"buy followers {i}") for i in range(3)])
    assert actions == [None, None, "restrict"] and state["strikes"] == 3
    assert state["evidence"] == ["reused"] * 3
    state, actions = run([_block("retried", "buy followers")] * 3)
    assert state["strikes"] == 1 and actions == [None, None, None]


def test_an_event_blocked_and_confirmed_counts_once_whatever_the_order() -> None:
    confirmed = strike("confirmed:e1") | {"event_id": "e1", "kind": "confirmed"}
    for signals in ([_block("e1", "spam text"), confirmed], [confirmed, _block("e1", "spam text")]):
        state, _ = run(signals)
        assert state["strikes"] == 1, signals


def test_a_state_from_before_digests_counts_its_evidence_ids_once() -> None:
    """Written by a version that kept only evidence ids: a block of one of them (with a digest
    now) is the same event, a new id is a new one."""
    old = {"strikes": 1.0, "evidence": ["e1"], "signals": ["block:e1"], "level": ""}
    state, _ = apply_strike(old, _block("e1", "text"), restrict_at=3, suspend_at=6)
    assert state is old
    state, _ = apply_strike(old, _block("e2", "text"), restrict_at=3, suspend_at=6)
    assert state["strikes"] == 2.0


def test_a_signal_counts_only_within_a_strike_window_of_its_own_time() -> None:
    """A signed signal keeps its ``at`` when it is re-sent: once it is a window old, no window
    that could count it remembers its id, so it is refused rather than counted again; and the
    record's timestamp, which its sender picks, cannot file it under another window."""
    day = 86_400.0
    now = 1_800_000_000.0
    fresh = {**strike("s1"), "at": now - 60}
    assert stale_signal(fresh, now - 55, now, day) is None
    assert stale_signal(strike("s0"), now, now, day) is None  # no time: nothing to check
    late = {**strike("s2"), "at": now - day - 1}
    refused = stale_signal(late, now, now, day)
    assert refused is not None and refused.kind == "stale_signal"
    assert refused.event_id == "evt-s2"
    # the same fresh signal filed a year ahead, or a day back from its time
    for timestamp in (now + 365 * day, now - 60 - day - 1):
        refused = stale_signal(fresh, timestamp, now, day)
        assert refused is not None and refused.kind == "invalid_value"


def _one_by_one(struck: list[list[float]], at: float, window_s: float) -> list[list[float]]:
    """The window as every strike was once filtered, one at a time."""
    return [[t, w] for t, w in struck if at - float(t) <= window_s]


def test_the_strikes_within_the_window_are_those_filtered_one_by_one() -> None:
    """A state's strikes copied whole when its oldest is within the window: the same strikes,
    and so the same counts and levels, as filtering each, whatever their order in the list."""
    rng = random.Random(7)
    for _ in range(300):
        at = rng.uniform(0, 3 * DAY)
        struck = [[rng.uniform(at - 2 * DAY, at), rng.choice((0.5, 1.0, 0.1))] for _ in range(50)]
        rng.shuffle(struck)
        window = rng.choice((DAY, 0.5 * DAY, 3 * DAY, at - min(t for t, _ in struck)))
        assert _within(struck, at, window) == _one_by_one(struck, at, window)
    assert _within([], 1.0, DAY) == []


def test_a_flood_of_strikes_keeps_its_newest_thousand_entries_a_state() -> None:
    """An account blocked 1,500 times in a day, out of order by up to a minute: its state
    keeps its newest thousand entries, a strike less than a second after the one before added
    to that one's weight, all within the window, as filtering each did."""
    rng = random.Random(3)
    state: dict[str, Any] = {}
    times = [10_000.0 + i + rng.uniform(-60, 60) for i in range(1_500)]
    expected: list[list[float]] = []
    for i, at in enumerate(times):
        state, _ = apply_strike(
            state, strike(f"f{i}", 0.1), restrict_at=3, suspend_at=6, at=at, window_s=DAY
        )
        if expected and 0.0 <= at - expected[-1][0] < STRIKE_GRAIN_S:
            expected[-1] = [expected[-1][0], expected[-1][1] + 0.1]
        else:
            expected.append([at, 0.1])
        expected = expected[-1_000:]
    assert state["struck"] == expected
    assert state["strikes"] == sum(w for _, w in expected)
    assert state["level"] == "suspend"


def test_a_flood_of_forty_strikes_a_second_counts_every_strike_in_one_entry_a_second() -> None:
    """A spammer blocked forty times a second for a minute: 2,400 strikes counted, in 60 entries
    (one a second) instead of the newest thousand, so its state, rewritten to the changelog once
    a batch, stays small."""
    state: dict[str, Any] = {}
    for i in range(2_400):
        state, _ = apply_strike(
            state, strike(f"s{i}"), restrict_at=3, suspend_at=6, at=50_000.0 + i / 40, window_s=DAY
        )
    assert state["strikes"] == 2_400.0 and len(state["struck"]) == 60
    assert [t for t, _ in state["struck"]] == [50_000.0 + s for s in range(60)]
    later = 50_000.0 + DAY + 30.5  # the first thirty seconds' strikes are out of the window
    state, _ = apply_strike(
        state, strike("late"), restrict_at=3, suspend_at=6, at=later, window_s=DAY
    )
    assert state["strikes"] == 2_400.0 - 31 * 40 + 1
    assert len(orjson.dumps(state)) < 30_000


def test_what_a_signal_adds_to_a_state_is_within_its_growth_bound() -> None:
    """Blocks, confirmed reports and reports with ids of every length and up to 64 categories,
    on states old and new: the bound a worker uses instead of measuring each state is never
    below what the signal added, and is None where a signal adds a list whole."""
    rng = random.Random(11)
    checked = unbounded = 0
    for run_ in range(40):
        state: dict[str, Any] = {}
        if run_ % 4 == 0:  # a state from before times and digests were kept
            state = {"strikes": 2.0, "evidence": ["e1", "e2"], "reporters": ["r1"], "level": ""}
        for i in range(60):
            size = rng.choice((1, 8, 36, 256))
            ident = f"{run_}-{i}-" + "x" * size
            categories = [
                f"c{rng.randrange(80)}-" + "y" * rng.choice((0, 40))
                for _ in range(rng.choice((1, 3, 64)))
            ]
            if rng.random() < 0.3:
                signal = report("r" + ident, rng.choice((0.25, 0.3333333, 1.0)), i)
            else:
                signal = strike("s" + ident, rng.choice((1.0, 0.1, 0.7))) | {
                    "content": "d" * rng.choice((0, 16, 64))
                }
            signal["categories"] = categories
            record = orjson.dumps(signal)
            new_state, _ = apply_strike(
                state, signal, restrict_at=3, suspend_at=6, at=1_000.0 + i * 7.3, window_s=DAY
            )
            bound = growth_bound(state, new_state, len(record), len(categories))
            if bound is None:
                unbounded += 1
            else:
                grown = len(orjson.dumps(new_state)) - len(orjson.dumps(state))
                assert grown <= bound, (signal, grown, bound)
                checked += 1
            state = new_state
    assert checked > 1_500 and unbounded < 200
