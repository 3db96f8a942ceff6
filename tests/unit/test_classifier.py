"""ModerationClassifier: shapes, masking of unknown labels, calibration folding, estimator grammar."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from models.classifier import ModerationClassifier
from models.errors import InsufficientLabels
from tests.unit.toy_corpus import LABELS, toy_data


@pytest.fixture(scope="module")
def fitted() -> ModerationClassifier:
    texts, Y = toy_data()
    return ModerationClassifier().fit(texts, Y, LABELS)


def test_scores_a_batch_as_probabilities(fitted: ModerationClassifier) -> None:
    scores = fitted.predict_proba(
        ["win a free prize now at 77", "see you at the meeting 5", "滚出去 垃圾 1"]
    )
    assert scores.shape == (3, 2)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[0, 0] > 0.8 > scores[1, 0]
    assert scores[2, 1] > 0.8 > scores[1, 1]
    assert fitted.labels_ == LABELS
    assert fitted.predict_proba([]).shape == (0, 2)


def test_unknown_labels_are_masked_not_negative() -> None:
    # "zebra" texts are hate-positive a few times and hate-unknown many times; if unknown counted
    # as negative the model would learn that zebra texts are mostly not hate.
    texts = [f"zebra stripes {i}" for i in range(40)] + [f"hello there {i}" for i in range(40)]
    hate = [1] * 8 + [-1] * 32 + [0] * 40
    spam = [0] * 40 + [1] * 10 + [0] * 30
    Y = np.column_stack([spam, hate])
    masked = ModerationClassifier().fit(texts, Y, LABELS).predict_proba(["zebra stripes 99"])
    as_negative = np.where(Y == -1, 0, Y)
    naive = (
        ModerationClassifier().fit(texts, as_negative, LABELS).predict_proba(["zebra stripes 99"])
    )
    assert masked[0, 1] > 0.8
    assert masked[0, 1] - naive[0, 1] > 0.3


def test_folded_weights_match_calibrated_classifier(fitted: ModerationClassifier) -> None:
    texts, Y = toy_data()
    X = fitted.features_.transform(texts)
    probe = [
        "free prize 12",
        "免费领取红包 加微信 9",
        "the report 3",
        "go back where you came from",
    ]
    for j in range(len(LABELS)):
        known = Y[:, j] >= 0
        folds = StratifiedKFold(fitted.calibration_folds, shuffle=True, random_state=0)
        reference = CalibratedClassifierCV(
            LinearSVC(C=fitted.C, class_weight="balanced", random_state=0),
            method="sigmoid",
            cv=folds,
            ensemble=False,
        ).fit(X[known], Y[known, j])
        expected = reference.predict_proba(fitted.features_.transform(probe))[:, 1]
        np.testing.assert_allclose(
            fitted.predict_proba(probe)[:, j], expected, rtol=1e-9, atol=1e-12
        )


def test_estimator_grammar() -> None:
    model = ModerationClassifier(C=2.0, char_ngram_range=(2, 3))
    assert model.get_params()["C"] == 2.0
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    texts, Y = toy_data(120)
    assert twin.fit(texts, Y, LABELS) is twin
    assert not hasattr(model, "coef_")


def test_logistic_regression_base_also_fits() -> None:
    texts, Y = toy_data(150)
    scores = (
        ModerationClassifier(base="logreg", C=4.0).fit(texts, Y, LABELS).predict_proba(texts[:5])
    )
    assert scores.shape == (5, 2)


def test_too_few_positives_is_a_clear_error() -> None:
    texts, Y = toy_data(100)
    Y = Y.copy()
    Y[:, 1] = np.where(Y[:, 1] == 1, 0, Y[:, 1])
    Y[:2, 1] = 1
    with pytest.raises(InsufficientLabels, match="hate: 2 positive"):
        ModerationClassifier().fit(texts, Y, LABELS)


def test_label_matrix_must_match_the_texts() -> None:
    with pytest.raises(ValueError, match="shape"):
        ModerationClassifier().fit(["a", "b"], np.zeros((3, 1)), ["spam"])
    with pytest.raises(ValueError, match="only 1"):
        ModerationClassifier().fit(["a", "b"], np.array([[2], [0]]), ["spam"])
