"""ModerationClassifier: shapes, masking of unknown labels, calibration folding, estimator grammar."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.calibration import _SigmoidCalibration
from sklearn.svm import LinearSVC

from models.classifier import ModerationClassifier, harm_target, platt_sigmoid
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


def test_served_weights_are_one_fit_on_every_known_row(fitted: ModerationClassifier) -> None:
    texts, Y = toy_data()
    X = fitted.features_.transform(texts)
    for j in range(len(LABELS)):
        known = Y[:, j] >= 0
        reference = LinearSVC(C=fitted.C, class_weight="balanced", random_state=0)
        reference.fit(X[known], Y[known, j])
        np.testing.assert_allclose(
            fitted.decision_function(texts[:20])[:, j],
            reference.decision_function(X[:20]),
            rtol=1e-7,
            atol=1e-9,
        )


def test_sigmoid_matches_scikit_learns_platt_scaling() -> None:
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(1.0, 1.0, 300), rng.normal(-1.0, 1.0, 700)])
    y = np.concatenate([np.ones(300), np.zeros(700)]).astype(np.int8)
    a, b = platt_sigmoid(d, y)
    reference = _SigmoidCalibration().fit(d, y)
    assert a == pytest.approx(reference.a_, rel=1e-3)
    assert b == pytest.approx(reference.b_, rel=1e-3, abs=1e-4)


def test_out_of_fold_scores_are_honest_and_masked() -> None:
    texts, Y = toy_data(240)
    model = ModerationClassifier()
    oof = model.fit_oof(texts, Y, LABELS)
    assert oof.shape == Y.shape
    assert np.isnan(oof[Y == -1]).all() and not np.isnan(oof[Y >= 0]).any()
    # a text the model trained on scores higher for its own label than out of fold, on average
    served = model.predict_proba(texts)
    spam = Y[:, 0] == 1
    assert served[spam, 0].mean() >= oof[spam, 0].mean() - 1e-9


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


def test_sample_weights_reach_the_base_models() -> None:
    texts, Y = toy_data(150)
    probe = texts[:20]
    plain = ModerationClassifier().fit(texts, Y, LABELS).predict_proba(probe)
    ones = ModerationClassifier().fit(texts, Y, LABELS, sample_weight=np.ones(len(texts)))
    np.testing.assert_allclose(ones.predict_proba(probe), plain)
    heavy = np.where(np.arange(len(texts)) < 40, 5.0, 1.0)
    weighted = ModerationClassifier().fit(texts, Y, LABELS, sample_weight=heavy)
    assert not np.allclose(weighted.predict_proba(probe), plain)
    with pytest.raises(ValueError, match="sample_weight"):
        ModerationClassifier().fit(texts, Y, LABELS, sample_weight=np.zeros(len(texts)))


def test_the_harm_head_learns_from_every_row_that_says_anything() -> None:
    Y = np.array([[1, -1], [0, -1], [-1, -1], [0, 0], [0, 1]])
    assert harm_target(Y).tolist() == [1, 0, -1, 0, 1]


def test_the_top_category_score_mixes_in_the_harm_head() -> None:
    texts, Y = toy_data()
    fitted = ModerationClassifier(harm_blend=0.5).fit(texts, Y, LABELS)
    texts, _ = toy_data(30, seed=5)
    decision = fitted.decision_function(texts)
    assert decision.shape == (30, len(LABELS) + 1)  # the categories, then the head
    calibrated = expit(-(fitted.sigmoid_[:, 0] * decision + fitted.sigmoid_[:, 1]))
    own, harm = calibrated[:, : len(LABELS)], calibrated[:, len(LABELS)]
    scores = fitted.predict_proba(texts)
    for i in range(len(texts)):
        top = int(own[i].argmax())
        expected = own[i].copy()
        expected[top] = 0.5 * own[i, top] + 0.5 * harm[i]
        np.testing.assert_allclose(scores[i], expected, rtol=0, atol=1e-12)


def test_without_the_head_scores_are_the_categories_own() -> None:
    texts, Y = toy_data(150)
    alone = ModerationClassifier().fit(texts, Y, LABELS)  # harm_blend 0 by default
    decision = alone.decision_function(texts[:10])
    assert decision.shape == (10, len(LABELS))
    np.testing.assert_allclose(
        alone.predict_proba(texts[:10]), alone.proba_from_decision(decision), rtol=0, atol=0
    )


def test_out_of_fold_scores_are_mixed_like_the_served_ones() -> None:
    texts, Y = toy_data(240)
    mixed = ModerationClassifier(harm_blend=0.5).fit_oof(texts, Y, LABELS)
    alone = ModerationClassifier().fit_oof(texts, Y, LABELS)
    known = Y >= 0
    assert np.isnan(mixed[~known]).all() and not np.isnan(mixed[known]).any()
    assert not np.allclose(mixed[known], alone[known])


def _two_sources() -> tuple[list[str], np.ndarray, np.ndarray]:
    """A public source where "you won the prize" is spam, and chat where friends say it of a
    game night."""
    public = [f"you won the prize {i}" for i in range(60)] + [
        f"meeting notes {i}" for i in range(60)
    ]
    chat = [f"you won the prize {i}" for i in range(30)] + [
        f"click this link {i}" for i in range(30)
    ]
    texts = public + chat
    spam = [1] * 60 + [0] * 60 + [0] * 30 + [1] * 30
    hate = [-1] * 120 + [0] * 55 + [1] * 5  # only the chat rows say anything about hate
    Y = np.column_stack([spam, hate])
    domain = np.array([False] * 120 + [True] * 60)
    return texts, Y, domain


def test_the_chat_copy_learns_how_chat_differs() -> None:
    texts, Y, domain = _two_sources()
    probe = ["you won the prize"]
    shared = ModerationClassifier().fit_oof(texts, Y, LABELS, domain=domain)
    assert shared.shape == Y.shape
    plain = ModerationClassifier().fit(texts, Y, LABELS).predict_proba(probe)[0, 0]
    adapted = ModerationClassifier(chat_domain=1.0)
    adapted.fit_oof(texts, Y, LABELS, domain=domain)
    # served weights are one block over one copy of the features, as without the copy
    assert adapted.coef_.shape[0] == sum(adapted.features_.block_widths())
    assert adapted.predict_proba(probe)[0, 0] < plain - 0.1


def test_out_of_fold_scores_with_the_chat_copy_are_the_served_view() -> None:
    texts, Y, domain = _two_sources()
    adapted = ModerationClassifier(chat_domain=2.0, calibration_folds=3)
    oof = adapted.fit_oof(texts, Y, LABELS, domain=domain)
    known = Y >= 0
    assert np.isnan(oof[~known]).all() and not np.isnan(oof[known]).any()
    # a public row's held-out score uses the chat weights too (the served view), so it differs
    # from the score of the same fit without the copy
    without = ModerationClassifier(calibration_folds=3).fit_oof(texts, Y, LABELS, domain=domain)
    assert not np.allclose(oof[:120, 0], without[:120, 0])


def test_the_chat_copy_needs_both_sources_and_one_flag_per_row() -> None:
    texts, Y, _ = _two_sources()
    every_row_chat = np.ones(len(texts), dtype=bool)
    one = ModerationClassifier(chat_domain=1.0).fit(texts, Y, LABELS)
    two = ModerationClassifier(chat_domain=1.0)
    two.fit_oof(texts, Y, LABELS, domain=every_row_chat)
    np.testing.assert_allclose(two.predict_proba(texts[:10]), one.predict_proba(texts[:10]))
    with pytest.raises(ValueError, match="domain"):
        ModerationClassifier(chat_domain=1.0).fit_oof(texts, Y, LABELS, domain=[True])
