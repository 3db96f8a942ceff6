"""Labelled rows → a fitted classifier with thresholds chosen on out-of-fold scores, metrics on a
grouped held-out test split, saved as a new version in the registry.

Rows are grouped first: identical and near-identical texts (``training.split.group_ids``) share a
group, and so do the lines of one corpus file on one topic (``writing_batches``: one writer's
brief, alike without being twins); a group is never split. A stratified share of the groups is held out as the test split
(none with ``final_fit``); the rest are the training rows. The classifier is cross-validated over
*all* training rows by group, so every training row has an out-of-fold score; its sigmoid and each
category's thresholds are chosen on those scores from a false-positive budget
(``training.thresholds``), not on a few hundred validation rows. The served model is fitted on all
training rows. The test split is scored only to report metrics, and is stored with the version
(``holdout.jsonl``) together with digests of the texts it was fitted on (``seen_texts.npy``), so
the promotion gate can later compare two models on rows that neither of them has seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.classifier import ModerationClassifier
from models.policy import Thresholds
from models.registry import ModelRegistry
from models.version_folder import VersionFolder
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
from training.recipes import SEED_CORPUS, clean_corpus_files
from training.split import group_ids, grouped_split, joined_groups, writing_batches
from training.thresholds import Budget, traffic_thresholds

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """How to split, fit and pick thresholds. ``params`` go to ``ModerationClassifier``.

    ``target_precision`` is the precision a block threshold needs; ``target_recall`` is the
    review recall below which training warns (the review threshold itself comes from the
    clean-traffic budget). ``final_fit`` holds nothing out: the served model is fitted on every
    row and only out-of-fold figures are reported.
    """

    seed: int = 13
    test_fraction: float = 0.15
    folds: int = 3
    target_precision: float = 0.98
    target_recall: float = 0.80
    block_clean_rate: float = 0.001
    review_clean_rate: float = 0.01
    review_hard_negative_rate: float = Budget.review_hard_negative_rate
    review_public_rate: float = 0.03
    block_support: int = Budget.block_support
    # weight of fully labelled rows (the seed and clean chat corpus) against partly labelled
    # public-set rows, which outnumber them about twenty to one and are SMS and tweets, not chat;
    # only with both kinds of row (on the seed corpus alone every row weighs 1)
    chat_weight: float = 4.0
    final_fit: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = (
            ("target_precision", self.target_precision, 0.5, 1.0),
            ("target_recall", self.target_recall, 0.0, 1.0),
            ("test_fraction", self.test_fraction, 0.0, 0.5),
        )
        for name, value, low, high in checks:
            if not low <= value <= high:
                msg = f"{name}={value!r} is outside [{low}, {high}]"
                raise ValueError(msg)
        if self.chat_weight <= 0:
            msg = f"chat_weight={self.chat_weight!r}: must be positive"
            raise ValueError(msg)
        if self.folds < 2:
            msg = f"folds={self.folds!r}: cross-validation needs at least 2"
            raise ValueError(msg)
        self.budget()  # validates the clean-traffic rates

    def budget(self) -> Budget:
        return Budget(
            block_clean_rate=self.block_clean_rate,
            block_precision=self.target_precision,
            review_clean_rate=self.review_clean_rate,
            review_hard_negative_rate=self.review_hard_negative_rate,
            review_public_rate=self.review_public_rate,
            block_support=self.block_support,
        )


@dataclass(frozen=True)
class TrainResult:
    """A fitted model, its thresholds, and how it did out of fold and on the test split."""

    classifier: ModerationClassifier
    labels: tuple[str, ...]
    thresholds: dict[str, Thresholds]
    threshold_notes: dict[str, dict[str, Any]]
    clean_cost: dict[str, Any]  # clean rows blocked / flagged by any category, out of fold
    validation: Evaluation  # out-of-fold scores of every training row
    test: Evaluation | None  # None with final_fit
    label_counts: dict[str, dict[str, int]]
    split_sizes: dict[str, int]
    test_rows: list[LabelledRow]
    seen_texts: list[str]

    @property
    def warnings(self) -> list[str]:
        """Every threshold warning, prefixed with its category."""
        return [
            f"{label}: {w}"
            for label, note in self.threshold_notes.items()
            for w in note.get("warnings", [])
        ]

    @property
    def report(self) -> Evaluation:
        """The figures to show: the test split's, or out-of-fold ones after a final fit."""
        return self.test if self.test is not None else self.validation


def train_model(
    rows: Sequence[LabelledRow],
    config: TrainConfig | None = None,
    *,
    labels: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Split by group, fit with out-of-fold scores, choose thresholds, evaluate. Nothing saved."""
    config = config or TrainConfig()
    say = progress or (lambda _message: None)
    labels = tuple(labels) if labels is not None else label_set(rows)
    if not labels:
        msg = "the rows name no category"
        raise ValueError(msg)
    Y = label_matrix(rows, labels)
    texts = [r.text for r in rows]
    say(f"grouping {len(rows)} rows by near-duplicate text and by file and topic")
    # a made-up copy (``training.augment``) goes wherever the row it was made from goes, and only
    # trains: it is never tested and never counts in the clean-traffic budget
    made_up = np.array([r.copy_of is not None for r in rows], dtype=bool)
    groups = joined_groups(
        group_ids([r.copy_of if r.copy_of is not None else r.text for r in rows]),
        writing_batches([r.origin for r in rows], [r.topic for r in rows]),
    )
    if config.final_fit:
        train, test = np.arange(len(rows)), np.arange(0)
    else:
        train, test = grouped_split(Y, groups, test_fraction=config.test_fraction, seed=config.seed)
        test = test[~made_up[test]]
    n_groups = len(np.unique(groups))
    say(
        f"{len(rows)} rows in {n_groups} groups, categories {', '.join(labels)}; "
        f"train/test {len(train)}/{len(test)}" + (" (final fit)" if config.final_fit else "")
    )
    params = {"calibration_folds": config.folds, **dict(config.params)}
    classifier = ModerationClassifier(**params)
    say(f"fitting {len(labels)} models with {classifier.calibration_folds}-fold out-of-fold scores")
    mixed = any(r.complete for r in rows) and not all(r.complete for r in rows)
    weight = np.array([config.chat_weight if r.complete and mixed else 1.0 for r in rows])
    oof = classifier.fit_oof(
        [texts[i] for i in train],
        Y[train],
        labels,
        groups[train],
        progress=say,
        sample_weight=weight[train],
        domain=np.array([r.complete and mixed for r in rows], dtype=bool)[train],
    )
    say("choosing thresholds on the out-of-fold scores (clean-traffic budget)")
    hard = np.array([r.kind == "hard_negative" for r in rows], dtype=bool)
    real = ~made_up[train]
    chosen_on = train[real]
    oof = oof[real]
    thresholds, notes, cost = traffic_thresholds(
        Y[chosen_on], oof, labels, config.budget(), hard=hard[chosen_on], weight=weight[chosen_on]
    )
    for label in labels:
        point = notes[label].get("operating_points", {})
        if point:
            r, b = point["review"], point["block"]
            say(
                f"{label}: review >= {_t(r['threshold'])} (recall {r['recall']:.1%}, clean "
                f"{r['clean_rate']:.2%}), block >= {_t(b['threshold'])} (recall "
                f"{b['recall']:.1%}, precision {b['precision']:.1%}, clean {b['clean_rate']:.2%})"
            )
        if point and point["review"]["recall"] < config.target_recall:
            notes[label]["warnings"].append(
                f"review recall {point['review']['recall']:.1%} is below the target "
                f"{config.target_recall:.0%}"
            )
        for warning in notes[label]["warnings"]:
            say(f"WARNING {label}: {warning}")
    say(_clean_cost_line(cost))
    oof_filled = np.nan_to_num(oof, nan=0.0)
    validation = evaluate_scores("out-of-fold", labels, Y[chosen_on], oof_filled, thresholds)
    test_eval = None
    if len(test):
        say(f"scoring the test split ({len(test)} rows)")
        test_scores = classifier.predict_proba([texts[i] for i in test])
        test_eval = evaluate_scores("candidate", labels, Y[test], test_scores, thresholds)
    return TrainResult(
        classifier=classifier,
        labels=labels,
        thresholds=thresholds,
        threshold_notes=notes,
        clean_cost=cost,
        validation=validation,
        test=test_eval,
        label_counts=label_counts(Y, labels),
        split_sizes={"train": len(train), "test": len(test), "groups": n_groups},
        test_rows=[rows[int(i)] for i in test],
        seen_texts=[texts[i] for i in train],
    )


def _clean_cost_line(cost: Mapping[str, Any]) -> str:
    return (
        f"clean traffic out of fold ({cost['clean_rows']} rows, {cost['hard_negative_rows']} "
        f"hard negatives): blocked {cost['clean_blocked']:.2%} (hard negatives "
        f"{cost.get('hard_negatives_blocked', 0.0):.2%}); flagged by any category: "
        f"everyday {cost['everyday_flagged']:.2%}, hard negatives "
        f"{cost['hard_negatives_flagged']:.2%}, public sets' harmless rows "
        f"{cost.get('public_flagged', 0.0):.2%} of {cost.get('public_rows', 0)} "
        f"(blocked {cost.get('public_blocked', 0.0):.2%})"
    )


def _t(value: float | None) -> str:
    return "never" if value is None else f"{value:.3f}"


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

    def write_extra(staging: Path) -> None:
        folder = VersionFolder(staging)
        with folder.holdout.open("w", encoding="utf-8") as handle:
            for row in result.test_rows:
                handle.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
        np.save(folder.seen_texts, text_hashes(result.seen_texts), allow_pickle=False)
        say("writing the evaluation report")
        title = "Held-out test split" if result.test is not None else "Out-of-fold (final fit)"
        write_report(result.report, folder.report, title=title)

    metadata = {
        **result.classifier.describe(),
        "data": {**data, "label_counts": result.label_counts, "split": result.split_sizes},
        "training": {
            "seed": config.seed,
            "test_fraction": 0.0 if config.final_fit else config.test_fraction,
            "folds": config.folds,
            "final_fit": config.final_fit,
            "target_precision": config.target_precision,
            "block_support": config.block_support,
            "target_recall": config.target_recall,
            "block_clean_rate": config.block_clean_rate,
            "review_clean_rate": config.review_clean_rate,
            "review_hard_negative_rate": config.review_hard_negative_rate,
            "review_public_rate": config.review_public_rate,
            "chat_weight": config.chat_weight,
        },
        "threshold_notes": result.threshold_notes,
        "clean_cost": result.clean_cost,
        "metrics": {
            "test": _summary(result.test) if result.test is not None else {},
            "out_of_fold": _summary(result.validation),
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
    # no files: the bundled data, the seed corpus and the clean / hard-negative chat corpus
    paths = [Path(p) for p in paths] or [SEED_CORPUS, *clean_corpus_files()]
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
