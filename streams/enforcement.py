"""Account strikes: blocked events and moderator-confirmed reports add up per account in a
sliding time window, and an account that crosses a threshold gets one action per level (restrict, then
suspend). Unconfirmed user reports are evidence, not strikes: they can at most put the account
into review (``review_account``), once per reporter in the same sliding window, weighed by the
reporter's reliability.

The state of one account in one window is a plain dict kept in a windowed Faust table (see
``streams.agents``); a window new to the account starts from the previous one's strikes and
reports that are still recent (:func:`carried_over`). :func:`apply_strike` is the pure rule, so it is tested
without Kafka.
Replayed signals (at-least-once redelivery) are recognised by ``signal_id`` and counted once;
an event counts as a strike once, whether it was blocked, confirmed, or both. An event is its id
*and* its text (a block carries a digest of it, ``content``): a client that sends every message
under one reused id would otherwise have them all count as one strike.
A flooding account's state is rewritten to the changelog once a batch, so its size is what a
flood costs the broker: it keeps a 12-character key of each signal id (:func:`signal_key`), and
strikes less than a second apart as one entry (:func:`_with_strike`).
A state written by a version that kept no times (:func:`timed`) counts as if at its first signal
after the upgrade: what was counted before still counts, and ages out a window later.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable
from operator import itemgetter
from typing import Any, cast

from streams.decoding import Rejected
from streams.records import AccountAction, AccountActionKind

# how far ahead of this worker's clock an internal record may be stamped (another worker's clock
# may run ahead a little)
FUTURE_SLACK_S = 300.0
MAX_SIGNALS = 1_000  # per account and window; beyond it a replay could count twice
MAX_EVIDENCE = 100
# strikes less than this far apart are kept as one entry of their summed weight (``_with_strike``)
STRIKE_GRAIN_S = 1.0
# categories an account's state weighs: the taxonomy's and the rules' few in practice; a forged
# strike may name 64 made-up ones, and a state growing with each would outgrow a Kafka record
MAX_CATEGORIES = 64
MAX_REPORTERS = 1_000  # per account and window; beyond it a reporter could count twice
# characters of ids per list of an account's state: ids may be 256 characters, and a state's
# lists of them at their counts alone came to 0.9 MB, near what a changelog record may hold.
# Ids of UUID length keep their full counts under it.
MAX_LIST_CHARS = 48_000
# the time and the weight of a [time, weight] strike: a state's strikes are floats, as
# ``apply_strike``, ``carried_over`` and ``timed`` write them
_TIME, _WEIGHT = itemgetter(0), itemgetter(1)


def stale_signal(
    strike: dict[str, Any], timestamp: float, now: float, window_s: float
) -> Rejected | None:
    """Why a signal cannot count now, or None. A signal counts only within a strike window of
    its own time ``at`` (signed with the record, so a replay keeps it): older, it is outside
    every window that could still count it, and its id is no longer remembered, so a signed
    signal re-sent a window later counted again (three blocks a day apart, replayed, restricted
    their account). The record's own timestamp, which its producer sets, must be within a
    window of ``at`` as well, so a replay cannot be filed under a window of its choosing, and
    not in the future (a window no clean-up expires)."""
    event_id = strike["event_id"]
    if timestamp - now > FUTURE_SLACK_S:
        return Rejected(
            "invalid_value",
            f"the record is stamped {timestamp - now:.0f} s in the future",
            event_id,
        )
    if "at" not in strike:
        return None
    at = float(strike["at"])
    if now - at > window_s:
        return Rejected(
            "stale_signal",
            f"the signal is from {now - at:.0f} s ago, beyond the strike window of "
            f"{window_s:g} s: a replay, or too late to count",
            event_id,
        )
    if abs(timestamp - at) > window_s:
        return Rejected(
            "invalid_value",
            f"the record's timestamp is {timestamp - at:+.0f} s from the signal's time, more "
            "than a strike window",
            event_id,
        )
    return None


def apply_strike(
    state: dict[str, Any],
    strike: dict[str, Any],
    *,
    restrict_at: float,
    suspend_at: float,
    review_at: float = 1.0,
    at: float | None = None,
    window_s: float = math.inf,
) -> tuple[dict[str, Any], str | None]:
    """The account's new state after ``strike``, and the action to emit now (or None). With
    its record's time ``at``, the strike is kept with its weight and the account's strikes are
    those within ``window_s`` of it (the ones a new window carried over age out)."""
    signals = state.get("signals", ())
    key = signal_key(strike["signal_id"])
    if _seen(signals, strike["signal_id"], key):
        return state, None
    if at is not None:
        state = timed(state, at)
    if strike.get("kind") == "report":
        return _apply_report(state, strike, key, review_at, at, window_s)
    evidence = list(state.get("evidence", ()))
    struck_events = _struck_events(state)
    event = [strike["event_id"], str(strike.get("content", ""))]
    if _counted(struck_events, event):  # blocked and then confirmed: one strike
        return state, None
    weight = float(strike["weight"])
    categories = _weighed(state.get("categories", {}), strike["categories"], weight)
    evidence = _newest([*evidence, strike["event_id"]], MAX_EVIDENCE)
    struck_events = _newest([*struck_events, event], MAX_EVIDENCE, _event_chars)
    strikes = float(state.get("strikes", 0.0)) + weight
    struck = None
    level = state.get("level", "")
    if at is not None:
        recent = _within(state.get("struck", ()), at, window_s)
        # a level the strikes still within the window no longer reach is given again when they
        # do: a restricted account whose strikes aged out and that offended again in the same
        # calendar window got no second restrict until the next one began (an outside probe)
        report_score = sum(w for _, _, w in _recent_reports(state, at, window_s))
        level = level_held(
            level,
            sum(map(_WEIGHT, recent)),
            report_score,
            restrict_at=restrict_at,
            suspend_at=suspend_at,
            review_at=review_at,
        )
        struck = _with_strike(recent, float(at), weight)[-MAX_SIGNALS:]
        strikes = sum(map(_WEIGHT, struck))
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
        "struck_events": struck_events,
        "signals": _newest([*signals, key], MAX_SIGNALS),
        "level": action or level,
    }
    if struck is not None:
        new_state["struck"] = struck
    return new_state, action


def growth_bound(
    state: dict[str, Any], new_state: dict[str, Any], record_bytes: int, categories: int
) -> int | None:
    """At most how many bytes of JSON ``new_state`` has more than ``state``, which
    :func:`apply_strike` made it from with a signal of ``record_bytes`` naming ``categories``;
    None if the signal added a list whole (the first report, or a state in an older shape
    converted: ``timed``, ``_struck_events``), whose size only measuring tells.

    Otherwise a signal adds its ids to the lists, each at most twice (an event id to the
    evidence and the struck events, a reporter to the reporters and the report times), no
    longer than in the record; and numbers, each at most 24 characters of JSON: a strike's
    time and weight, the new totals, the weight of each category named."""
    if not new_state.keys() <= state.keys():
        return None
    return 3 * record_bytes + 64 * (categories + 8)


def carried_over(
    previous: dict[str, Any],
    at: float,
    window_s: float,
    *,
    restrict_at: float,
    suspend_at: float,
    review_at: float = 1.0,
) -> dict[str, Any]:
    """The state an account starts a new window with, its first signal there at ``at``: the
    strikes and reports of ``previous`` (its state in the window before) within ``window_s`` of
    ``at``, so both add up over a sliding window, not per calendar window (two strikes just
    before 00:00 UTC and one just after are three; a reporter on both sides counts once), and
    the level they still hold (a level they no longer reach is emitted again when they do).
    Categories, evidence and signals go on as they were."""
    struck = [
        [float(t), float(w)] for t, w in previous.get("struck", ()) if at - float(t) <= window_s
    ]
    reported_at = _recent_reports(previous, at, window_s)
    if not struck and not reported_at:
        return {}
    strikes = sum(w for _, w in struck)
    report_score = sum(w for _, _, w in reported_at)
    level = level_held(
        previous.get("level", ""),
        strikes,
        report_score,
        restrict_at=restrict_at,
        suspend_at=suspend_at,
        review_at=review_at,
    )
    state = {
        "strikes": strikes,
        "struck": struck,
        "categories": dict(previous.get("categories", {})),
        "evidence": list(previous.get("evidence", ())),
        "struck_events": _struck_events(previous),
        "signals": list(previous.get("signals", ())),
        "level": level,
    }
    if reported_at:
        state |= {
            "report_score": report_score,
            "reported_at": reported_at,
            "reporters": list(dict.fromkeys(r for _, r, _ in reported_at)),
            "reported": dict(previous.get("reported", {})),
            "reports": list(previous.get("reports", ())),
            "reported_events": list(previous.get("reported_events", ())),
        }
    return state


def level_held(
    level: str,
    strikes: float,
    report_score: float,
    *,
    restrict_at: float,
    suspend_at: float,
    review_at: float,
) -> str:
    """The part of ``level`` that ``strikes`` and ``report_score`` (those within the window)
    still reach: a suspended account under ``suspend_at`` is restricted, one under
    ``restrict_at`` goes back to review if its reports still reach it (no second
    ``review_account`` for them), else to no level, so a level is emitted again when reached."""
    acted_on = level != ""
    if level == "suspend" and strikes < suspend_at:
        level = "restrict"
    if level not in ("restrict", "suspend") or strikes < restrict_at:
        level = "review" if acted_on and report_score >= review_at else ""
    return level


def timed(state: dict[str, Any], at: float) -> dict[str, Any]:
    """``state`` with a time for each strike and report. A state written before they were kept
    has only totals: its strikes count as one strike at ``at`` and its reporters as reports at
    ``at`` sharing its report score, so an upgrade neither forgets the day's strikes nor lets a
    reporter of the day count again. (Their real times are unknown; ``at`` keeps them a window
    longer at most, rather than dropping them at once.)"""
    added: dict[str, Any] = {}
    if "struck" not in state and float(state.get("strikes", 0.0)) > 0:
        added["struck"] = [[float(at), float(state["strikes"])]]
    reporters = list(state.get("reporters", ()))
    if "reported_at" not in state and reporters:
        share = float(state.get("report_score", 0.0)) / len(reporters)
        added["reported_at"] = [[float(at), str(r), share] for r in reporters]
    return {**state, **added} if added else state


def _within(struck: Any, at: float, window_s: float) -> list[list[float]]:
    """The [time, weight] strikes of ``struck`` within ``window_s`` of ``at``. A spammer's
    state holds its last thousand strikes, and filtering them one by one for each new strike
    was the largest cost of the enforcement agent, which took a fifth of a worker's event loop
    in the stream benchmark's flood. When the oldest is within the window, so is every other
    (``at - t`` only shrinks as ``t`` grows), and the list is copied whole."""
    if not struck:
        return []
    if at - min(map(_TIME, struck)) <= window_s:
        return list(struck)
    return [[t, w] for t, w in struck if at - float(t) <= window_s]


def _with_strike(struck: list[list[float]], at: float, weight: float) -> list[list[float]]:
    """``struck`` with a strike of ``weight`` at ``at``: added to the newest one's weight when
    it came less than ``STRIKE_GRAIN_S`` after it, so a flood of forty strikes a second keeps
    one entry a second, not forty (1,000 entries of [time, weight] were 25 KB of a state
    rewritten to its changelog once a batch). The merged strike ages out with the newest one's
    time, at most that much early."""
    if struck and 0.0 <= at - float(struck[-1][0]) < STRIKE_GRAIN_S:
        newest = struck[-1]
        return [*struck[:-1], [float(newest[0]), float(newest[1]) + weight]]
    return [*struck, [at, weight]]


def _recent_reports(state: dict[str, Any], at: float, window_s: float) -> list[list[Any]]:
    """The account's reports as [time, reporter, weight], those within ``window_s`` of ``at``."""
    return [
        [float(t), str(r), float(w)]
        for t, r, w in state.get("reported_at", ())
        if at - float(t) <= window_s
    ]


def _apply_report(
    state: dict[str, Any],
    report: dict[str, Any],
    key: str,
    review_at: float,
    at: float | None,
    window_s: float,
) -> tuple[dict[str, Any], str | None]:
    """An unconfirmed report: once per reporter (within ``window_s`` of ``at``, with its
    record's time); enough of them put the account into review. ``key``: its signal's key."""
    reporter, weight = report["reporter_id"], float(report["weight"])
    reporters: list[str] = list(state.get("reporters", ()))
    reported_at = None
    if at is not None:
        recent = _recent_reports(state, at, window_s)
        if reporter in {r for _, r, _ in recent}:
            return state, None
        reported_at = _newest(
            [*recent, [float(at), reporter, weight]], MAX_REPORTERS, _report_chars
        )
        score = sum(w for _, _, w in reported_at)
    else:
        if reporter in reporters:
            return state, None
        score = float(state.get("report_score", 0.0)) + weight
    reported = _weighed(state.get("reported", {}), report["categories"], weight)
    level = state.get("level", "")
    action = "review_account" if score >= review_at and level == "" else None
    new_state = {
        **state,
        "report_score": score,
        "reported": reported,
        "reporters": _newest([*reporters, reporter], MAX_REPORTERS),
        "reports": _newest([*state.get("reports", ()), report["report_id"]], MAX_EVIDENCE),
        "reported_events": _added(state.get("reported_events", ()), report["event_id"]),
        "signals": _newest([*state.get("signals", ()), key], MAX_SIGNALS),
        "level": "review" if action else level,
    }
    if reported_at is not None:
        new_state["reported_at"] = reported_at
    return new_state, action


def signal_key(signal_id: str) -> str:
    """``signal_id`` as an account's state keeps it: 12 characters of its BLAKE2b digest
    (72 bits; two of an account's last 1,000 signals share one about once in 10^16).

    A flooding account's state is rewritten to its changelog once a batch, and its 1,000 full
    ids ("block:" and a UUID) were two thirds of its 68 KB; ids of 256 characters kept only the
    newest 187 within ``MAX_LIST_CHARS``, so a replay of an older one counted again."""
    digest = hashlib.blake2b(signal_id.encode("utf-8", "surrogatepass"), digest_size=9)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii")


def _seen(signals: Any, signal_id: str, key: str) -> bool:
    """Whether the state's ``signals`` hold ``signal_id``: as a key, or whole in a state
    written before keys. Whole ids come first in such a state (keys are appended after them)
    and the fleet's have a colon ("block:…"), which a key never has: the list is searched a
    second time only while its oldest entry is a whole id."""
    if key in signals:
        return True
    return bool(signals) and ":" in signals[0] and signal_id in signals


def _struck_events(state: dict[str, Any]) -> list[list[str]]:
    """The account's struck events as [event id, content digest]. A state written before
    digests were kept has only its evidence ids: each stands for its id whatever the text."""
    if "struck_events" in state:
        return [[str(i), str(c)] for i, c in state["struck_events"]]
    return [[str(event_id), ""] for event_id in state.get("evidence", ())]


def _counted(struck_events: list[list[str]], event: list[str]) -> bool:
    """Whether ``event`` ([id, content digest]) already counted. A confirmed report names only
    the id (digest ""), so it matches a block of that id whatever its text, and the other way
    round: an event the moderators confirmed and a worker blocked is one strike."""
    event_id, content = event
    return any(i == event_id and (c == content or not c or not content) for i, c in struck_events)


def _event_chars(event: list[str]) -> int:
    return len(event[0]) + len(event[1])


def _added(items: Any, item: str) -> list[str]:
    items = list(items)
    return items if item in items else _newest([*items, item], MAX_EVIDENCE)


def _weighed(weights: dict[str, float], categories: Any, weight: float) -> dict[str, float]:
    """``weights`` with ``weight`` added to each of ``categories``; past ``MAX_CATEGORIES``
    the heaviest stay (a forged signal may name 64 made-up ones, each up to an id's length)."""
    weights = dict(weights)
    for category in categories:
        weights[category] = weights.get(category, 0.0) + weight
    if len(weights) > MAX_CATEGORIES:
        heaviest = sorted(weights.items(), key=lambda item: item[1])[-MAX_CATEGORIES:]
        weights = dict(heaviest)
    return weights


def _newest(items: list[Any], count: int, chars: Callable[[Any], int] = len) -> list[Any]:
    """The newest of ``items``: at most ``count``, of at most ``MAX_LIST_CHARS`` characters of
    ids together (``chars`` of an item), so a state stays far below a record's limit whatever
    ids its signals carry."""
    items = items[-count:]
    if sum(map(chars, items)) <= MAX_LIST_CHARS:
        return items
    sizes = list(map(chars, items))
    total, start = 0, len(items)
    while start > 0 and total + sizes[start - 1] <= MAX_LIST_CHARS:
        start -= 1
        total += sizes[start]
    return items[start:] or items[-1:]  # the newest, whatever its size


def _report_chars(report: list[Any]) -> int:
    """An entry of ``reported_at``, [time, reporter, weight], in characters of JSON."""
    return 24 + len(report[1])


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
