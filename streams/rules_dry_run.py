"""A rules file against labelled rows before it is published: per-rule hits, precision and
recall, and how many decisions it would change (``chatguard rules test``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from models.rules import RuleSet
from streams.decide import Position, build_decisions, score_events
from streams.decoding import Event
from streams.model_holder import ServingModel
from streams.rules_holder import apply_rules


@dataclass(frozen=True, slots=True)
class Row:
    """A labelled text: ``positives`` are its categories (empty = clean)."""

    text: str
    positives: frozenset[str]
    source: str = "chat"


@dataclass
class RuleStats:
    hits: int = 0
    true_hits: int = 0  # hits on a row the rule is right about
    relevant: int = 0  # rows the rule should hit

    @property
    def precision(self) -> float | None:
        return self.true_hits / self.hits if self.hits else None

    @property
    def recall(self) -> float | None:
        return self.true_hits / self.relevant if self.relevant else None


@dataclass
class DryRunReport:
    rows: int
    version: str
    per_rule: dict[str, RuleStats] = field(default_factory=dict)
    changes: Counter[str] = field(default_factory=Counter)  # "allow→block": count


def read_rows(path: Path) -> list[Row]:
    """Labelled JSONL: ``{"text", "categories": [...]}`` or ``{"text", "labels": {c: 0|1}}``,
    optionally ``"source"``. A row that cannot be read is an error naming its line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ValueError(msg) from exc
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            text = data["text"]
            if "categories" in data:
                categories = data["categories"]
                # a bare string is iterable too: "spam" became the categories s, p, a and m
                if not isinstance(categories, list) or not all(
                    isinstance(c, str) for c in categories
                ):
                    msg = f"'categories' must be a list of strings, not {categories!r:.80}"
                    raise TypeError(msg)
                positives = frozenset(categories)
            else:
                positives = frozenset(c for c, v in data["labels"].items() if v == 1)
            rows.append(Row(str(text), positives, str(data.get("source", "chat"))))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            msg = f"{path}:{number}: not a labelled row: {exc!r}"
            raise ValueError(msg) from exc
    return rows


def dry_run(ruleset: RuleSet, serving: ServingModel, rows: Sequence[Row]) -> DryRunReport:
    """Decide ``rows`` without and with ``ruleset``; count hits against the labels."""
    events = [
        Event("chat.message", f"row-{i}", "dry-run", row.text, row.source, {})
        for i, row in enumerate(rows)
    ]
    positions = [Position("dry-run", 0, i) for i in range(len(rows))]
    scores, _ = score_events(serving, events)
    baseline = build_decisions(serving, events, positions, scores, 0.0)
    with_rules = build_decisions(serving, events, positions, scores, 0.0)
    apply_rules(ruleset, serving, events, scores, with_rules)
    report = DryRunReport(len(rows), ruleset.version)
    for rule in ruleset.rules:
        stats = report.per_rule[rule.id] = RuleStats()
        for row in rows:
            wanted = (
                (not row.positives) if rule.action == "allow" else rule.category in row.positives
            )
            stats.relevant += wanted
    for row, before, after in zip(rows, baseline, with_rules, strict=True):
        fired = [r.removeprefix("rule:") for r in after.reasons if r.startswith("rule:")]
        for rule_id in fired:
            rule = next(r for r in ruleset.rules if r.id == rule_id)
            stats = report.per_rule[rule_id]
            stats.hits += 1
            right = (
                (not row.positives) if rule.action == "allow" else rule.category in row.positives
            )
            stats.true_hits += right
        if before.action != after.action:
            report.changes[f"{before.action}→{after.action}"] += 1
    return report


def format_report(report: DryRunReport) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [f"rules {report.version} on {report.rows} rows", f"{'rule':32} hits  precision recall"]
    for rule_id, stats in report.per_rule.items():
        lines.append(f"{rule_id:32} {stats.hits:<5} {pct(stats.precision):9} {pct(stats.recall)}")
    changed = sum(report.changes.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(report.changes.items()))
    lines.append(f"decisions changed: {changed}" + (f" ({detail})" if detail else ""))
    return "\n".join(lines)
