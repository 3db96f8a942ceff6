"""Account strikes: blocked events and user reports add up per account in a time window, and an
account that crosses a threshold gets one action per level (restrict, then suspend).

The state of one account in one window is a plain dict kept in a windowed Faust table (see
``streams.agents``); :func:`apply_strike` is the pure rule, so it is tested without Kafka.
Replayed signals (at-least-once redelivery) are recognised by ``signal_id`` and counted once.
"""

from __future__ import annotations

from typing import Any

MAX_SIGNALS = 1_000  # per account and window; beyond it a replay could count twice
MAX_EVIDENCE = 100


def apply_strike(
    state: dict[str, Any], strike: dict[str, Any], *, restrict_at: float, suspend_at: float
) -> tuple[dict[str, Any], str | None]:
    """The account's new state after ``strike``, and the action to emit now (or None)."""
    signals: list[str] = list(state.get("signals", ()))
    if strike["signal_id"] in signals:
        return state, None
    weight = float(strike["weight"])
    categories = dict(state.get("categories", {}))
    for category in strike["categories"]:
        categories[category] = categories.get(category, 0.0) + weight
    evidence = list(state.get("evidence", ()))
    if strike["event_id"] not in evidence:
        evidence = [*evidence, strike["event_id"]][-MAX_EVIDENCE:]
    strikes = float(state.get("strikes", 0.0)) + weight
    level = state.get("level", "")
    action = None
    if strikes >= suspend_at and level != "suspend":
        action = "suspend"
    elif strikes >= restrict_at and level == "":
        action = "restrict"
    new_state = {
        "strikes": strikes,
        "categories": categories,
        "evidence": evidence,
        "signals": [*signals, strike["signal_id"]][-MAX_SIGNALS:],
        "level": action or level,
    }
    return new_state, action
