"""User reports as evidence: which events the platform has seen, what a reason means, and the
records that carry a report from one keyed hop to the next. Pure: no Kafka.

A report counts only for an event the platform moderated, against that event's account. The
pipeline sends a compact ``seen`` record for every moderated event to ``events.by_id`` (keyed by
event id, several events per record so the hot path pays one record per partition and batch);
reports travel the same topic keyed by the event id they name, so a report is checked against
the recent-events table on the partition that holds its event, after that event's ``seen``
record. Reasons are free text from users: they are mapped onto the taxonomy, and a reason the
taxonomy does not know only ever counts toward review.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson

from models.taxonomy import TAXONOMY
from streams.decoding import Rejected
from streams.partitioning import partitions_for
from streams.records import (
    ConfirmedReport,
    InvalidRecord,
    ReportOutcome,
    ReportRecord,
    SeenEvents,
    StrikeSignal,
    VerifiedReport,
)

# a reason the taxonomy does not know: review evidence only, never an enforcement category
UNMAPPED = "other"
REASON_CATEGORIES: dict[str, str] = {
    **{category: category for category in TAXONOMY},
    "scam": "fraud",
    "phishing": "fraud",
    "impersonation": "fraud",
    "advertising": "spam",
    "ads": "spam",
    "porn": "sexual",
    "pornography": "sexual",
    "nudity": "sexual",
    "betting": "gambling",
    "casino": "gambling",
    "terrorism": "extremism",
    "violent_extremism": "extremism",
    "hate_speech": "hate",
    "harassment": "hate",
    "垃圾广告": "spam",
    "诈骗": "fraud",
    "色情": "sexual",
    "赌博": "gambling",
    "暴恐": "extremism",
    "仇恨": "hate",
}


def category_for(reason: str) -> str:
    """The taxonomy category a report reason names, or ``UNMAPPED``."""
    return REASON_CATEGORIES.get(reason.strip().lower().replace(" ", "_"), UNMAPPED)


def seen_records(
    events: Iterable[tuple[str, str]], partitions: int, at: float
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` records that tell the recent-events table about ``(event_id, account)``.

    One record per partition of ``events.by_id``: its entries are the events whose id hashes
    there (Kafka's default partitioner), and its key is one of those ids, so the record lands
    where reports for them will."""
    pairs = list(events)
    groups: dict[int, list[tuple[str, str]]] = defaultdict(list)
    where = partitions_for([event_id.encode() for event_id, _ in pairs], partitions)
    for pair, partition in zip(pairs, where, strict=True):
        groups[partition].append(pair)
    return [
        (group[0][0].encode(), orjson.dumps(SeenEvents("seen", tuple(group), at)))
        for group in groups.values()
    ]


def report_record(data: dict[str, Any]) -> ReportRecord:
    """A validated user report, reduced to what the next hops need; ``confirmed`` is dropped."""
    return ReportRecord(
        "report",
        data["report_id"],
        data["reporter_id"],
        data["event_id"],
        data["account_id"],
        data["reason"],
        category_for(data["reason"]),
        data["reported_at"],
    )


def check_report(report: dict[str, Any], seen_account: str | None) -> Rejected | None:
    """Why ``report`` does not count (its event unseen, or someone else's), or None."""
    if seen_account is None:
        return Rejected(
            "unknown_event",
            f"report {report['report_id']} names event {report['event_id']!r}, "
            "which was not moderated in the report window",
            report["event_id"],
        )
    if seen_account != report["account_id"]:
        return Rejected(
            "account_mismatch",
            f"report {report['report_id']} names account {report['account_id']!r}, but event "
            f"{report['event_id']!r} is from {seen_account!r}",
            report["event_id"],
        )
    return None


def report_time_problem(report: dict[str, Any], now: float, window_s: float) -> Rejected | None:
    """Why a report's ``reported_at`` cannot count now, or None: more than a strike window from
    now, either way. Enforcement refused the strike of a report dated in the year 9999 or at
    -1e300, but only after the report had counted for its reporter as verified; refused here,
    it is a dead letter before anything counts it. A reporter's clock may be off by minutes or
    hours, so a time ahead of now counts as far as one behind."""
    off = float(report["reported_at"]) - now
    if abs(off) <= window_s:
        return None
    when = f"{off:.3g} s in the future" if off > 0 else f"{-off:.3g} s ago"
    return Rejected(
        "stale_report",
        f"report {report['report_id']} is dated {when}, beyond the strike window of {window_s:g} s",
        report["event_id"],
    )


def report_strike(report: dict[str, Any], weight: float) -> StrikeSignal:
    """The strike signal of a verified, unconfirmed report: review evidence, weighed by its
    reporter's reliability."""
    return StrikeSignal.reported(
        report["report_id"],
        report["reporter_id"],
        report["event_id"],
        report["account_id"],
        report["category"],
        weight,
        report["reported_at"],
    )


def confirmed_strike(decision: dict[str, Any], weight: float) -> StrikeSignal:
    """The strike signal of a report a moderator confirmed, its reasons mapped onto the taxonomy."""
    categories = sorted(
        {category_for(c) for c in decision.get("categories") or [decision["reason"]]} - {UNMAPPED}
    )
    return StrikeSignal.confirmed(
        decision["report_id"],
        decision["reporter_id"],
        decision["event_id"],
        decision["account_id"],
        tuple(categories),
        weight,
        decision["moderator_id"],
        decision["decided_at"],
    )


def confirmation(decision: dict[str, Any], weight: float) -> ConfirmedReport:
    """A confirmed report on its way to its event's partition. A moderator's signature says the
    report is right, not that it names the event's sender: a confirmation of a report that had
    been refused as ``account_mismatch`` restricted the account it named, which sent nothing. So
    the strike goes on only once the recent-events store has the event from that account
    (:func:`confirmed_strike_of`)."""
    return ConfirmedReport(
        "confirmation",
        decision["report_id"],
        decision["event_id"],
        decision["account_id"],
        confirmed_strike(decision, weight),
    )


def confirmed_strike_of(
    record: dict[str, Any], seen_account: str | None
) -> dict[str, Any] | Rejected:
    """The strike a :func:`confirmation` carries, if its event came from the account it names
    (``seen_account``: what the recent-events store has for the event), or why not."""
    problem = confirmation_problem(record)
    if problem is not None:
        event_id = record["event_id"] if problem == NO_STRIKE else None
        return Rejected("invalid_field", problem, event_id)
    refused = check_report(record, seen_account)
    if refused is not None:
        return Rejected(refused.kind, f"confirmed {refused.error}", refused.event_id)
    return cast(dict[str, Any], record["strike"])


NO_IDS = "a confirmation names its report, event and account"
NO_STRIKE = "a confirmation carries its strike"


def confirmation_problem(record: dict[str, Any]) -> str | None:
    """What makes ``record`` (a confirmation read back from a topic anyone may write) not one,
    or None."""
    names = ("report_id", "event_id", "account_id")
    if not all(isinstance(record.get(name), str) and record[name] for name in names):
        return NO_IDS
    if not isinstance(record.get("strike"), dict):
        return NO_STRIKE
    return None


def outcome_record(decision: dict[str, Any]) -> ReportOutcome:
    """What a moderator's decision on a report tells about its reporter."""
    return ReportOutcome(
        "outcome", decision["report_id"], decision["reporter_id"], decision["outcome"]
    )


def verified_record(report: dict[str, Any]) -> VerifiedReport:
    """What a report that passed the recent-events check tells about its reporter."""
    return VerifiedReport("verified", report["report_id"], report["reporter_id"])


def seen_entries(record: dict[str, Any], most: int = 1_024) -> Sequence[tuple[str, str]]:
    """The ``(event_id, account)`` pairs of a ``seen`` record; ``ValueError`` past ``most`` of
    them (a worker writes one batch's events of one partition: a forged record of 80,000 held
    the agent 242 ms)."""
    events, at = record.get("events"), record.get("at")
    if not isinstance(events, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for pair in events
    ):
        msg = "a seen record's events must be a list of [event_id, account_id] strings"
        raise InvalidRecord(msg)
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        msg = f"a seen record's at must be a finite number, not {at!r:.40}"
        raise InvalidRecord(msg)
    if len(events) > most:
        msg = f"{len(events)} events in a seen record; the limit is {most}"
        raise ValueError(msg)
    return [(event_id, account) for event_id, account in events]


def most_seen(batch_size: int) -> int:
    """The most events a ``seen`` record may hold: a batch's, with room for a larger one."""
    return max(1_024, 4 * batch_size)
