"""The promotion gate: a candidate becomes current only if it is not worse than the current model
on the same held-out rows, by more than a tolerance, for any category.

The shared held-out rows are, by default, the union of both versions' ``holdout.jsonl`` minus any
text either model was fitted or tuned on (``seen_texts.npy``), so neither model is scored on its
own training data. Explicit rows (``chatguard promote --data FILE``) replace them. A category is
compared on PR-AUC (ranking quality, threshold-free) and on F1 at each model's own ``review``
threshold (what moderators would actually see); categories only one model scores are not gated.

A version that passes is signed with the promoter's private key before ``CURRENT`` moves to it:
workers serve only signed versions (``models.signing``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.artifact import LoadedModel
from models.registry import ModelRegistry
from models.version_folder import VersionFolder
from training.errors import PromotionRefused
from training.evaluate import evaluate_rows
from training.labelled_data import LabelledRow, latest_label_per_event, read_labelled, text_hashes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEFAULT_TOLERANCE = 0.02
MIN_GATE_ROWS = 20


@dataclass(frozen=True)
class Comparison:
    """One metric of one category for both models."""

    label: str
    metric: str
    candidate: float
    current: float

    @property
    def delta(self) -> float:
        return self.candidate - self.current


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate may replace the current model, and the numbers behind it."""

    candidate: str
    current: str | None
    passed: bool
    rows: int
    comparisons: list[Comparison] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.current is None:
            return f"{self.candidate}: no current model, nothing to compare with"
        lines = [f"{self.candidate} vs current {self.current} on {self.rows} held-out rows:"]
        for c in self.comparisons:
            lines.append(
                f"  {c.label:<10} {c.metric:<7} candidate {c.candidate:.3f}  "
                f"current {c.current:.3f}  ({c.delta:+.3f})"
            )
        lines.extend(f"  WORSE: {failure}" for failure in self.failures)
        return "\n".join(lines)


def shared_holdout(candidate: LoadedModel, current: LoadedModel) -> list[LabelledRow]:
    """Held-out rows of both versions that neither was fitted or tuned on (deduplicated)."""
    seen: set[int] = set()
    for model in (candidate, current):
        path = VersionFolder(model.path).seen_texts
        if path.is_file():
            seen.update(int(h) for h in np.load(path, allow_pickle=False))
    rows: list[LabelledRow] = []
    taken: set[str] = set()
    for model in (candidate, current):
        path = VersionFolder(model.path).holdout
        if not path.is_file():
            continue
        for row in read_labelled(path):
            if row.text not in taken:
                taken.add(row.text)
                rows.append(row)
    unseen = text_hashes(r.text for r in rows)
    return [row for row, h in zip(rows, unseen, strict=True) if int(h) not in seen]


def gate(
    candidate: LoadedModel,
    current: LoadedModel | None,
    *,
    rows: Sequence[LabelledRow] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GateResult:
    """Compare ``candidate`` with ``current`` on ``rows`` (default: their shared held-out rows)."""
    if current is None:
        return GateResult(candidate.version, None, passed=True, rows=0)
    if current.version == candidate.version:
        return GateResult(candidate.version, current.version, passed=True, rows=0)
    rows = list(rows) if rows is not None else shared_holdout(candidate, current)
    shared = [label for label in candidate.labels if label in current.labels]
    if len(rows) < MIN_GATE_ROWS:
        failure = (
            f"only {len(rows)} held-out rows unseen by both models (need {MIN_GATE_ROWS}); "
            "pass labelled rows with --data, or --force"
        )
        return GateResult(candidate.version, current.version, False, len(rows), [], [failure])
    ours = evaluate_rows(
        candidate.version, candidate.labels, candidate.score, rows, candidate.thresholds
    )
    theirs = evaluate_rows(current.version, current.labels, current.score, rows, current.thresholds)
    comparisons, failures = [], []
    for label in shared:
        a, b = ours.metrics[label], theirs.metrics[label]
        if math.isnan(a["pr_auc"]) or math.isnan(b["pr_auc"]):
            continue  # the rows hold no positives or no negatives for it: nothing to compare
        for metric, x, y in (
            ("pr_auc", a["pr_auc"], b["pr_auc"]),
            ("f1", a["review"]["f1"], b["review"]["f1"]),
        ):
            comparison = Comparison(label, metric, float(x), float(y))
            comparisons.append(comparison)
            if comparison.delta < -tolerance:
                failures.append(
                    f"{label} {metric} {x:.3f} < current {y:.3f} - tolerance {tolerance}"
                )
    return GateResult(
        candidate.version, current.version, not failures, len(rows), comparisons, failures
    )


def promote(
    registry: ModelRegistry,
    version: str,
    *,
    signing_key: Ed25519PrivateKey,
    force: bool = False,
    data: Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GateResult:
    """Gate ``version`` against the current model, sign it and make it current;
    ``PromotionRefused`` if it is worse and ``force`` is not set."""
    candidate = registry.load(version)
    current_name = registry.current_version()
    current = registry.load(current_name) if current_name else None
    rows = latest_label_per_event(read_labelled(data)) if data is not None else None
    result = gate(candidate, current, rows=rows, tolerance=tolerance)
    if not result.passed and not force:
        msg = f"refusing to promote {version}:\n{result.summary()}"
        raise PromotionRefused(msg)
    registry.sign(version, signing_key)
    registry.promote(version)
    return result
