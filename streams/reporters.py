"""Reporter reliability: how often a reporter's past reports were confirmed by moderators. Pure.

A platform that pays for reports needs to see who earns them honestly, and a report's weight as
evidence should follow its reporter's record. Reliability is the mean of a Beta(1, 1) prior
updated with the moderators' outcomes: ``(confirmed + 1) / (confirmed + rejected + 2)``, so a
new reporter weighs 0.5, one whose reports keep being rejected tends to 0, and one whose reports
keep being confirmed tends to 1. An outcome counts once per report id (a replayed decision, or a
second moderator deciding the same report, changes nothing).
"""

from __future__ import annotations

from typing import Any, Literal

from streams.records import ReporterStats

Outcome = Literal["confirm", "reject"]
OUTCOMES: tuple[str, ...] = ("confirm", "reject")
MAX_DECIDED = 1_000  # report ids kept per reporter to recognise a replayed outcome


def reliability(stats: dict[str, Any]) -> float:
    """The share of a reporter's decided reports that were confirmed, with a Beta(1, 1) prior."""
    confirmed = int(stats.get("confirmed", 0))
    rejected = int(stats.get("rejected", 0))
    return (confirmed + 1) / (confirmed + rejected + 2)


def count_report(stats: dict[str, Any]) -> dict[str, Any]:
    """``stats`` after one more report by this reporter."""
    return {**stats, "reports": int(stats.get("reports", 0)) + 1}


def apply_outcome(stats: dict[str, Any], report_id: str, outcome: str) -> dict[str, Any]:
    """``stats`` after a moderator's ``outcome`` for ``report_id``; the same object if it was
    already decided (so the caller can tell nothing changed)."""
    decided: list[str] = list(stats.get("decided", ()))
    if report_id in decided or outcome not in OUTCOMES:
        return stats
    field = "confirmed" if outcome == "confirm" else "rejected"
    return {
        **stats,
        field: int(stats.get(field, 0)) + 1,
        "decided": [*decided, report_id][-MAX_DECIDED:],
    }


def stats_record(reporter_id: str, stats: dict[str, Any], at: float) -> ReporterStats:
    """The ``reporter.stats`` record of one reporter."""
    return ReporterStats(
        reporter_id,
        int(stats.get("reports", 0)),
        int(stats.get("confirmed", 0)),
        int(stats.get("rejected", 0)),
        round(reliability(stats), 4),
        at,
    )
