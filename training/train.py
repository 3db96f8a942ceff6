"""Labelled rows → a fitted classifier with thresholds chosen on validation data, metrics on a
held-out test split, saved as a new version in the registry.

The rows are split once (stratified, seeded): the model is fitted on the training part, each
category's thresholds are chosen on the validation part, and the test part is scored only to
report metrics. The test rows are stored with the version (``holdout.jsonl``) together with
digests of the texts it was fitted or tuned on (``seen_texts.npy``), so the promotion gate can
later compare two models on rows that neither of them has seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from models.classifier import ModerationClassifier
from models.policy import Thresholds
from models.registry import ModelRegistry
from training.evaluate import Evaluation, evaluate_scores, write_report
from training.labelled_data import (
    LabelledRow,
    data_snapshot,
    label_counts,
    label_matrix,
    label_set,
    read_many,
    text_hashes,
)
from training.split import stratified_split

SEED_CORPUS = Path(__file__).parent / "seed" / "seed_corpus.jsonl"
HOLDOUT_FILE = "holdout.jsonl"
SEEN_TEXTS_FILE = "seen_texts.npy"
REPORT_DIR = "report"

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """How to split, fit and pick thresholds. ``params`` go to ``ModerationClassifier``."""

    seed: int = 13
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    target_precision: float = 0.98
    target_recall: float = 0.90
    # never block below this calibrated probability: a small validation split can put the
    # precision target's threshold at a score where the model itself thinks "probably clean"
    min_block: float = 0.5
    # always send to review what the model calls more likely than not abusive, whatever recall
    # target the (small) validation split says is met at a higher score
    max_review: float = 0.5
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """A fitted model, its thresholds, and how it did on the validation and test splits."""

    classifier: ModerationClassifier
    labels: tuple[str, ...]
    thresholds: dict[str, Thresholds]
    threshold_notes: dict[str, dict[str, Any]]
    validation: Evaluation
    test: Evaluation
    label_counts: dict[str, dict[str, int]]
    split_sizes: dict[str, int]
    test_rows: list[LabelledRow]
    seen_texts: list[str]


def choose_thresholds(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    target_precision: float,
    target_recall: float,
    min_block: float = 0.0,
    max_review: float = 1.0,
) -> tuple[Thresholds, dict[str, Any]]:
    """``block``: the lowest threshold whose precision reaches ``target_precision``;
    ``review``: the highest whose recall reaches ``target_recall`` (never above ``block``);
    ``block`` is raised to ``min_block`` when the target lands below it, ``review`` lowered to
    ``max_review`` when it lands above.

    Rows with an unknown label (-1) are ignored. If no threshold reaches the target precision
    the category never blocks on its own (``block=None``) and the note says so.
    """
    known = y >= 0
    y, scores = y[known], scores[known]
    if not (y == 1).any() or not (y == 0).any():
        note = {"block_target_met": False, "review_target_met": False, "reason": "one class only"}
        return Thresholds(review=0.5, block=None), note
    precision, recall, cuts = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    reach_p = np.flatnonzero((precision >= target_precision) & (recall > 0))
    block = max(float(cuts[reach_p[0]]), min_block) if len(reach_p) else None
    reach_r = np.flatnonzero(recall >= target_recall)
    review = float(cuts[reach_r[-1]]) if len(reach_r) else float(cuts[0])
    review = min(review, max_review)
    if block is not None:
        review = min(review, block)
    note = {"block_target_met": block is not None, "review_target_met": bool(len(reach_r))}
    return Thresholds(review=review, block=block), note


def train_model(
    rows: Sequence[LabelledRow],
    config: TrainConfig | None = None,
    *,
    labels: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Split, fit, choose thresholds on validation and evaluate on test. Nothing is saved."""
    config = config or TrainConfig()
    say = progress or (lambda _message: None)
    labels = tuple(labels) if labels is not None else label_set(rows)
    if not labels:
        msg = "the rows name no category"
        raise ValueError(msg)
    Y = label_matrix(rows, labels)
    train, val, test = stratified_split(
        Y, val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed
    )
    sizes = f"{len(train)}/{len(val)}/{len(test)}"
    say(f"{len(rows)} rows, categories {', '.join(labels)}; train/validation/test {sizes}")
    texts = [r.text for r in rows]
    classifier = ModerationClassifier(**dict(config.params))
    say(f"fitting {len(labels)} calibrated models on {len(train)} rows")
    classifier.fit([texts[i] for i in train], Y[train], labels)
    say("choosing thresholds on the validation split")
    val_scores = classifier.predict_proba([texts[i] for i in val])
    thresholds, notes = {}, {}
    for j, label in enumerate(labels):
        thresholds[label], notes[label] = choose_thresholds(
            Y[val, j],
            val_scores[:, j],
            target_precision=config.target_precision,
            target_recall=config.target_recall,
            min_block=config.min_block,
            max_review=config.max_review,
        )
    say("scoring the test split")
    test_scores = classifier.predict_proba([texts[i] for i in test])
    return TrainResult(
        classifier=classifier,
        labels=labels,
        thresholds=thresholds,
        threshold_notes=notes,
        validation=evaluate_scores("candidate", labels, Y[val], val_scores, thresholds),
        test=evaluate_scores("candidate", labels, Y[test], test_scores, thresholds),
        label_counts=label_counts(Y, labels),
        split_sizes={"train": len(train), "validation": len(val), "test": len(test)},
        test_rows=[rows[i] for i in test],
        seen_texts=[texts[i] for i in np.concatenate([train, val])],
    )


def save_result(
    registry: ModelRegistry,
    result: TrainResult,
    config: TrainConfig,
    *,
    data: Mapping[str, Any],
    progress: ProgressFn | None = None,
) -> str:
    """Store ``result`` as a new (not yet current) version with its report and held-out rows."""
    say = progress or (lambda _message: None)

    def write_extra(folder: Path) -> None:
        with (folder / HOLDOUT_FILE).open("w", encoding="utf-8") as handle:
            for row in result.test_rows:
                handle.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
        np.save(folder / SEEN_TEXTS_FILE, text_hashes(result.seen_texts), allow_pickle=False)
        say("writing the evaluation report")
        write_report(result.test, folder / REPORT_DIR, title="Held-out test split")

    metadata = {
        "data": {**data, "label_counts": result.label_counts, "split": result.split_sizes},
        "training": {
            "seed": config.seed,
            "val_fraction": config.val_fraction,
            "test_fraction": config.test_fraction,
            "target_precision": config.target_precision,
            "target_recall": config.target_recall,
        },
        "threshold_notes": result.threshold_notes,
        "metrics": {
            "test": _summary(result.test),
            "validation": _summary(result.validation),
        },
    }
    return registry.save(
        result.classifier, thresholds=result.thresholds, metadata=metadata, write_extra=write_extra
    )


def train_files(
    paths: Sequence[Path | str],
    registry: ModelRegistry,
    config: TrainConfig | None = None,
    *,
    taxonomy: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    exclude_moderators: Sequence[str] = (),
) -> tuple[str, TrainResult]:
    """Read labelled files, train, and save a new version; return its name and the result.

    Rows labelled by ``exclude_moderators`` are left out, and the metadata says so."""
    config = config or TrainConfig()
    say = progress or (lambda _message: None)
    paths = [Path(p) for p in paths] or [SEED_CORPUS]
    say(f"reading {', '.join(str(p) for p in paths)}")
    rows = read_many(paths, taxonomy, exclude_moderators=exclude_moderators)
    result = train_model(rows, config, progress=progress)
    snapshot = data_snapshot(paths)
    if exclude_moderators:
        snapshot["excluded_moderators"] = sorted(exclude_moderators)
    version = save_result(registry, result, config, data=snapshot, progress=progress)
    say(f"saved version {version}")
    return version, result


def _summary(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    out = {}
    for label, m in evaluation.metrics.items():
        out[label] = {
            "positives": m["positives"],
            "negatives": m["negatives"],
            "pr_auc": None if np.isnan(m["pr_auc"]) else round(m["pr_auc"], 4),
            "review": {k: m["review"][k] for k in ("threshold", "precision", "recall", "f1")},
            "block": {k: m["block"][k] for k in ("threshold", "precision", "recall", "f1")},
            "confusion_review": m["review"]["confusion"],
            "confusion_block": m["block"]["confusion"],
        }
    return out
