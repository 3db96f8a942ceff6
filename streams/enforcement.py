"""Account strikes: blocked events and moderator-confirmed reports add up per account in a time
window, and an account that crosses a threshold gets one action per level (restrict, then
suspend). Unconfirmed user reports are evidence, not strikes: they can at most put the account
into review (``review_account``), once per reporter, weighed by the reporter's reliability.

The state of one account in one window is a plain dict kept in a windowed Faust table (see
``streams.agents``); :func:`apply_strike` is the pure rule, so it is tested without Kafka.
Replayed signals (at-least-once redelivery) are recognised by ``signal_id`` and counted once;
an event counts as a strike once, whether it was blocked, confirmed, or both.
"""

from __future__ import annotations

from typing import Any, cast

from streams.records import AccountAction, AccountActionKind

MAX_SIGNALS = 1_000  # per account and window; beyond it a replay could count twice
MAX_EVIDENCE = 100
# categories an account's state weighs: the taxonomy's and the rules' few in practice; a forged
# strike may name 64 made-up ones, and a state growing with each would outgrow a Kafka record
MAX_CATEGORIES = 64
MAX_REPORTERS = 1_000  # per account and window; beyond it a reporter could count twice


def apply_strike(
    state: dict[str, Any],
    strike: dict[str, Any],
    *,
    restrict_at: float,
    suspend_at: float,
    review_at: float = 1.0,
) -> tuple[dict[str, Any], str | None]:
    """The account's new state after ``strike``, and the action to emit now (or None)."""
    signals: list[str] = list(state.get("signals", ()))
    if strike["signal_id"] in signals:
        return state, None
    if strike.get("kind") == "report":
        return _apply_report(state, strike, review_at)
    evidence = list(state.get("evidence", ()))
    if strike["event_id"] in evidence:  # blocked and then confirmed: one strike
        return state, None
    weight = float(strike["weight"])
    categories = dict(state.get("categories", {}))
    for category in strike["categories"]:
        categories[category] = categories.get(category, 0.0) + weight
    if len(categories) > MAX_CATEGORIES:  # the heaviest stay
        heaviest = sorted(categories.items(), key=lambda item: item[1])[-MAX_CATEGORIES:]
        categories = dict(heaviest)
    evidence = [*evidence, strike["event_id"]][-MAX_EVIDENCE:]
    strikes = float(state.get("strikes", 0.0)) + weight
    level = state.get("level", "")
    action = None
    if strikes >= suspend_at and level != "suspend":
        action = "suspend"
    elif strikes >= restrict_at and level in ("", "review"):
        action = "restrict"
    new_state = {
        **state,
        "strikes": strikes,
        "categories": categories,
        "evidence": evidence,
        "signals": [*signals, strike["signal_id"]][-MAX_SIGNALS:],
        "level": action or level,
    }
    return new_state, action


def _apply_report(
    state: dict[str, Any], report: dict[str, Any], review_at: float
) -> tuple[dict[str, Any], str | None]:
    """An unconfirmed report: once per reporter; enough of them put the account into review."""
    reporters: list[str] = list(state.get("reporters", ()))
    if report["reporter_id"] in reporters:
        return state, None
    weight = float(report["weight"])
    reported = dict(state.get("reported", {}))
    for category in report["categories"]:
        reported[category] = reported.get(category, 0.0) + weight
    score = float(state.get("report_score", 0.0)) + weight
    level = state.get("level", "")
    action = "review_account" if score >= review_at and level == "" else None
    new_state = {
        **state,
        "report_score": score,
        "reported": reported,
        "reporters": [*reporters, report["reporter_id"]][-MAX_REPORTERS:],
        "reports": [*state.get("reports", ()), report["report_id"]][-MAX_EVIDENCE:],
        "reported_events": _added(state.get("reported_events", ()), report["event_id"]),
        "signals": [*state.get("signals", ()), report["signal_id"]][-MAX_SIGNALS:],
        "level": "review" if action else level,
    }
    return new_state, action


def _added(items: Any, item: str) -> list[str]:
    items = list(items)
    return items if item in items else [*items, item][-MAX_EVIDENCE:]


def action_record(
    account: str, action: str, state: dict[str, Any], window_start: float, at: float
) -> AccountAction:
    """The ``account.actions`` record for ``action``: strikes for restrict and suspend, the
    report evidence (reports, reporters, events, weights) for review."""
    kind = cast(AccountActionKind, action)
    action_id = f"{account}:{action}:{int(window_start)}"
    strikes = float(state.get("strikes", 0.0))
    if action != "review_account":
        return AccountAction(
            action_id,
            account,
            kind,
            strikes,
            dict(state.get("categories", {})),
            tuple(state.get("evidence", ())),
            window_start,
            at,
        )
    return AccountAction(
        action_id,
        account,
        kind,
        strikes,
        dict(state.get("reported", {})),
        tuple(state.get("reported_events", ())),
        window_start,
        at,
        report_score=float(state.get("report_score", 0.0)),
        reports=tuple(state.get("reports", ())),
        reporters=tuple(state.get("reporters", ())[-MAX_EVIDENCE:]),
    )
