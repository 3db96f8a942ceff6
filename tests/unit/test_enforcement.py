"""The strike rule: one action per level, replays counted once."""

from __future__ import annotations

from typing import Any

import pytest

from streams.enforcement import MAX_CATEGORIES, apply_strike


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
