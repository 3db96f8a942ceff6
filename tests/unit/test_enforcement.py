"""The strike rule: one action per level, replays counted once."""

from __future__ import annotations

from typing import Any

import pytest

from streams.enforcement import MAX_CATEGORIES, apply_strike, carried_over


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
    again, action = apply_strike(state, strike(before["signals"][0]), restrict_at=3, suspend_at=6)
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


def test_reports_do_not_carry_over() -> None:
    report = {
        "kind": "report",
        "signal_id": "rep:1",
        "event_id": "e1",
        "reporter_id": "r1",
        "report_id": "1",
        "categories": ["spam"],
        "weight": 0.5,
    }
    state, _ = apply_strike({}, report, restrict_at=3, suspend_at=6)
    assert carried_over(state, 1.0, DAY, restrict_at=3, suspend_at=6) == {}
    state = _struck([0.0], state)
    carried = carried_over(state, 1.0, DAY, restrict_at=3, suspend_at=6)
    assert carried["strikes"] == 1 and "reporters" not in carried and "report_score" not in carried
