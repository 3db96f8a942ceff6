"""Scores on held-out rows → metrics per category and a report (Markdown, JSON, PR-curve PNGs).

Rows whose label for a category is unknown are left out of that category's metrics. Precision,
recall, F1 and the confusion counts are given at both thresholds of the model (``review``, the
lower one, flags for a moderator; ``block`` acts alone).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from models.policy import Thresholds
from training.labelled_data import LabelledRow, label_matrix


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on labelled rows, and the metrics derived from them."""

    model_version: str
    labels: tuple[str, ...]
    Y: np.ndarray
    scores: np.ndarray
    thresholds: Mapping[str, Thresholds]
    metrics: Mapping[str, dict[str, Any]]


def metrics_at(y: np.ndarray, s: np.ndarray, threshold: float | None) -> dict[str, Any]:
    """Precision, recall, F1 and confusion counts when flagging ``s >= threshold``."""
    flagged = s >= threshold if threshold is not None else np.zeros(len(s), dtype=bool)
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn = int((~flagged & (y == 1)).sum())
    tn = int((~flagged & (y == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": threshold,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def category_metrics(y: np.ndarray, s: np.ndarray, thresholds: Thresholds) -> dict[str, Any]:
    """Every metric of one category over the rows where it is known (``y`` of 1 / 0 / -1)."""
    known = y >= 0
    y, s = y[known], s[known]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    pr_auc = float(average_precision_score(y, s)) if n_pos and n_neg else math.nan
    return {
        "positives": n_pos,
        "negatives": n_neg,
        "pr_auc": pr_auc,
        "review": metrics_at(y, s, thresholds.review),
        "block": metrics_at(y, s, thresholds.block),
    }


def evaluate_scores(
    model_version: str,
    labels: Sequence[str],
    Y: np.ndarray,
    scores: np.ndarray,
    thresholds: Mapping[str, Thresholds],
) -> Evaluation:
    metrics = {
        label: category_metrics(Y[:, j], scores[:, j], thresholds[label])
        for j, label in enumerate(labels)
    }
    return Evaluation(model_version, tuple(labels), Y, scores, thresholds, metrics)


def evaluate_rows(
    model_version: str,
    labels: Sequence[str],
    score: Any,
    rows: Sequence[LabelledRow],
    thresholds: Mapping[str, Thresholds],
) -> Evaluation:
    """Score ``rows`` with ``score(texts) -> (n, len(labels))`` and evaluate."""
    Y = label_matrix(rows, labels)
    scores = np.asarray(score([r.text for r in rows]))
    return evaluate_scores(model_version, labels, Y, scores, thresholds)


def write_report(evaluation: Evaluation, out_dir: Path, *, title: str = "") -> list[Path]:
    """Write ``report.md``, ``report.json`` and ``pr_<category>.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    payload = {
        "model_version": evaluation.model_version,
        "rows": len(evaluation.Y),
        "metrics": _json_safe(dict(evaluation.metrics)),
    }
    written[0].write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    lines = [
        f"# {title or 'Evaluation of ' + evaluation.model_version}",
        "",
        f"Model `{evaluation.model_version}`, {len(evaluation.Y)} rows; a category's metrics use "
        "only the rows labelled for it.",
        "",
        "| category | pos | neg | PR-AUC | review thr | P | R | F1 | block thr | P | R | F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, m in evaluation.metrics.items():
        r, b = m["review"], m["block"]
        lines.append(
            f"| {label} | {m['positives']} | {m['negatives']} | {_f(m['pr_auc'])} "
            f"| {_f(r['threshold'])} | {_f(r['precision'])} | {_f(r['recall'])} | {_f(r['f1'])} "
            f"| {_f(b['threshold'])} | {_f(b['precision'])} | {_f(b['recall'])} | {_f(b['f1'])} |"
        )
    lines += ["", "Confusion (tp / fp / fn / tn):", ""]
    for label, m in evaluation.metrics.items():
        rc, bc = m["review"]["confusion"], m["block"]["confusion"]
        lines.append(
            f"- {label}: review {rc['tp']} / {rc['fp']} / {rc['fn']} / {rc['tn']}; "
            f"block {bc['tp']} / {bc['fp']} / {bc['fn']} / {bc['tn']}; PR curve: "
            f"[pr_{label}.png](pr_{label}.png)"
        )
    written[1].write_text("\n".join(lines) + "\n")
    written.extend(_plot_curves(evaluation, out_dir))
    return written


def _plot_curves(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for j, label in enumerate(evaluation.labels):
        y, s = evaluation.Y[:, j], evaluation.scores[:, j]
        known = y >= 0
        fig, ax = plt.subplots(figsize=(4.5, 4))
        if (y[known] == 1).any() and (y[known] == 0).any():
            precision, recall, _ = precision_recall_curve(y[known], s[known])
            ax.plot(recall, precision, drawstyle="steps-post")
            t = evaluation.thresholds[label]
            for name, value, marker in (("review", t.review, "o"), ("block", t.block, "s")):
                if value is not None:
                    at = metrics_at(y[known], s[known], value)
                    ax.plot([at["recall"]], [at["precision"]], marker, label=f"{name} {value:.2f}")
            ax.legend(loc="lower left")
        else:
            ax.text(0.5, 0.5, "no positives or negatives", ha="center")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=label)
        fig.tight_layout()
        path = out_dir / f"pr_{label}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def _f(value: float | None) -> str:
    if value is None:
        return "off"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.3f}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
