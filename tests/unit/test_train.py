"""train_model: grouped held-out split, out-of-fold thresholds, --final-fit, validated targets."""

from __future__ import annotations

import random
import string

import pytest

from chatguard.cli import main
from tests.unit.toy_corpus import _CLEAN as CLEAN
from tests.unit.toy_corpus import _SPAM as SPAM
from tests.unit.toy_corpus import LABELS, toy_data
from training.labelled_data import LabelledRow
from training.split import near_duplicate_key
from training.train import TrainConfig, train_model


def _rows(n: int = 300) -> list[LabelledRow]:
    texts, Y = toy_data(n)
    return [
        LabelledRow(t, {k: int(v) for k, v in zip(LABELS, y, strict=True) if v >= 0}, False)
        for t, y in zip(texts, Y, strict=True)
    ]


def test_no_test_row_has_a_twin_in_training() -> None:
    rows = _rows()
    # the toy texts differ only in a number: each template is one group
    result = train_model(rows, TrainConfig(test_fraction=0.3, folds=3))
    train_keys = {near_duplicate_key(t) for t in result.seen_texts}
    assert result.test_rows
    assert not train_keys & {near_duplicate_key(r.text) for r in result.test_rows}


def test_a_files_lines_on_one_topic_are_never_split_between_train_and_test() -> None:
    """A writer's lines on one topic are alike without being near-twins: with some of them in
    training the rest would score as if seen, in the test split and out of fold alike."""
    rng = random.Random(5)
    rows = []
    for file, pool, labels in (("spam", SPAM, {"spam": 1}), ("clean", CLEAN, {})):
        for topic, template in enumerate(pool):
            for line in range(25):
                suffix = "".join(rng.choices(string.ascii_lowercase, k=8))  # no near-twins
                rows.append(
                    LabelledRow(
                        template.format(suffix),
                        labels,
                        origin=f"corpus/{file}.jsonl:{topic * 25 + line + 1}",
                        topic=f"topic {topic}",
                    )
                )
    result = train_model(rows, TrainConfig(test_fraction=0.3, folds=3), labels=["spam"])
    batch = {r.text: (r.origin.rpartition(":")[0], r.topic) for r in rows}
    tested = {batch[r.text] for r in result.test_rows}
    assert tested and not tested & {batch[t] for t in result.seen_texts}


def test_final_fit_fits_every_row_and_reports_out_of_fold() -> None:
    rows = _rows()
    result = train_model(rows, TrainConfig(final_fit=True, folds=3))
    assert result.test is None and result.test_rows == []
    assert len(result.seen_texts) == len(rows)
    assert result.report is result.validation
    assert set(result.thresholds) == set(LABELS)
    assert 0.0 <= result.clean_cost["clean_flagged"] <= 0.01
    assert result.clean_cost["clean_blocked"] <= 0.001


def test_chat_weight_weighs_fully_labelled_rows_against_public_ones() -> None:
    import numpy as np

    rows = _rows()
    config = TrainConfig(final_fit=True, folds=3)
    # every row alike (all partly labelled here): the weight changes nothing
    plain = train_model(rows, config).classifier.predict_proba(["win a prize now 3"])
    same = train_model(rows, TrainConfig(final_fit=True, folds=3, chat_weight=9.0))
    np.testing.assert_allclose(same.classifier.predict_proba(["win a prize now 3"]), plain)
    # fully labelled rows among public ones: they weigh more
    mixed = [LabelledRow(r.text, r.labels, complete=i % 3 == 0) for i, r in enumerate(rows)]
    one = train_model(mixed, TrainConfig(final_fit=True, folds=3, chat_weight=1.0))
    four = train_model(mixed, config)
    assert config.chat_weight == 4.0
    probe = [r.text for r in mixed[:30]]
    assert not np.allclose(
        one.classifier.predict_proba(probe), four.classifier.predict_proba(probe)
    )


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--target-precision", "1.5"),
        ("--target-precision", "0.2"),
        ("--target-recall", "-0.1"),
        ("--review-clean-rate", "0.0001"),  # below the block rate
        ("--folds", "1"),
        ("--block-support", "-1"),
    ],
)
def test_out_of_range_targets_are_refused_before_training(
    flag: str, value: str, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    assert main(["train", "--registry", str(tmp_path), flag, value, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot train" in err
