"""``ModerationClassifier``: texts → one calibrated probability per category, a batch at a time.

One linear model per category, each wrapped in sigmoid calibration (``CalibratedClassifierCV``,
one final model whose sigmoid is fitted on cross-validated scores) and fitted only on the rows
where that category is known (``Y == -1`` is masked, never a negative): a spam corpus says nothing
about hate. All categories share one feature matrix, computed once per batch.

After fitting, each category's model is folded into one column of a sparse weight matrix plus its
sigmoid's two parameters: scoring a batch is then one sparse product and one ``expit`` instead of
a validated ``predict_proba`` call per category, and the artifact holds only non-zero weights.

A category with fewer than ``min_class_rows`` known positives or negatives is an error
(``InsufficientLabels``), not silently skipped: a model that quietly lacks a category the data
names would let that category through unscored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from models.errors import InsufficientLabels
from models.features import TextFeatures

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1


class ModerationClassifier(BaseEstimator):
    """Multi-label text classifier; hyperparameters are keyword arguments stored as-is.

    Args:
        word_ngram_range, char_ngram_range, word_features, char_features, sublinear_tf,
            use_signals, signal_weight: passed to ``TextFeatures``.
        base: ``"svm"`` (``LinearSVC``) or ``"logreg"`` (``LogisticRegression``) per category.
        C: inverse regularization strength of the base model.
        class_weight: ``"balanced"`` so rare categories are not drowned by clean traffic.
        calibration_folds: folds for sigmoid calibration (one final model per category).
        min_class_rows: known positives and negatives a category needs (at least the folds).
        random_state: seed for the calibration folds.
    """

    def __init__(
        self,
        *,
        word_ngram_range: tuple[int, int] = (1, 1),
        char_ngram_range: tuple[int, int] = (1, 4),
        word_features: int = 2**18,
        char_features: int = 2**19,
        sublinear_tf: bool = True,
        use_signals: bool = False,
        signal_weight: float = 1.0,
        base: str = "svm",
        C: float = 0.5,
        class_weight: str | None = "balanced",
        calibration_folds: int = 3,
        min_class_rows: int = 5,
        random_state: int = 0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.word_features = word_features
        self.char_features = char_features
        self.sublinear_tf = sublinear_tf
        self.use_signals = use_signals
        self.signal_weight = signal_weight
        self.base = base
        self.C = C
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.min_class_rows = min_class_rows
        self.random_state = random_state

    def feature_params(self) -> dict[str, object]:
        """The feature hyperparameters (recorded in the artifact metadata)."""
        return {
            "word_ngram_range": list(self.word_ngram_range),
            "char_ngram_range": list(self.char_ngram_range),
            "word_features": self.word_features,
            "char_features": self.char_features,
            "sublinear_tf": self.sublinear_tf,
            "use_signals": self.use_signals,
            "signal_weight": self.signal_weight,
        }

    def _base_estimator(self) -> BaseEstimator:
        if self.base == "svm":
            return LinearSVC(
                C=self.C, class_weight=self.class_weight, random_state=self.random_state
            )
        if self.base == "logreg":
            return LogisticRegression(
                C=self.C,
                class_weight=self.class_weight,
                max_iter=2000,
                random_state=self.random_state,
            )
        msg = f"base={self.base!r}: use 'svm' or 'logreg'"
        raise ValueError(msg)

    def fit(
        self, texts: Sequence[str], Y: np.ndarray, labels: Sequence[str] | None = None
    ) -> ModerationClassifier:
        """Fit on ``texts`` and ``Y`` (``n_rows × n_labels`` of 1, 0 or -1 for unknown)."""
        texts = list(texts)
        Y = np.asarray(Y, dtype=np.int8)
        if Y.ndim != 2 or Y.shape[0] != len(texts):
            msg = f"Y has shape {Y.shape}; expected ({len(texts)}, n_labels)"
            raise ValueError(msg)
        names = tuple(labels) if labels is not None else tuple(str(j) for j in range(Y.shape[1]))
        if len(names) != Y.shape[1] or len(set(names)) != len(names):
            msg = f"labels {names!r} must be {Y.shape[1]} distinct names"
            raise ValueError(msg)
        if not np.isin(Y, (POSITIVE, NEGATIVE, UNKNOWN)).all():
            msg = "Y may hold only 1 (positive), 0 (negative) and -1 (unknown)"
            raise ValueError(msg)

        needed = max(self.min_class_rows, self.calibration_folds)
        counts = {
            name: (int((Y[:, j] == POSITIVE).sum()), int((Y[:, j] == NEGATIVE).sum()))
            for j, name in enumerate(names)
        }
        short = {name: c for name, c in counts.items() if min(c) < needed}
        if short:
            detail = ", ".join(f"{n}: {p} positive / {q} negative" for n, (p, q) in short.items())
            msg = f"each category needs at least {needed} known positives and negatives; {detail}"
            raise InsufficientLabels(msg)

        self.features_ = TextFeatures(**self.feature_params())  # type: ignore[arg-type]
        X = self.features_.fit_transform(texts)
        columns, intercepts, sigmoids = [], [], []
        for j in range(len(names)):
            known = Y[:, j] != UNKNOWN
            folds = StratifiedKFold(
                self.calibration_folds, shuffle=True, random_state=self.random_state
            )
            model = CalibratedClassifierCV(
                self._base_estimator(), method="sigmoid", cv=folds, ensemble=False
            )
            model.fit(X[known], Y[known, j])
            weights, intercept, sigmoid = _fold(model)
            columns.append(sp.csc_matrix(weights.reshape(-1, 1)))
            intercepts.append(intercept)
            sigmoids.append(sigmoid)
        self.coef_ = sp.hstack(columns, format="csr")  # (n_features, n_labels), non-zeros only
        self.intercept_ = np.asarray(intercepts)
        self.sigmoid_ = np.asarray(sigmoids)  # (n_labels, 2): a, b of expit(-(a * d + b))
        self.labels_ = names
        self.label_counts_ = counts
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of each category, shape ``(len(texts), len(labels_))``."""
        return self.proba_from_decision(self.decision_function(texts))

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated linear score of each category, shape ``(len(texts), len(labels_))``."""
        check_is_fitted(self, "coef_")
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels_)))
        X = self.features_.transform(texts)
        return np.asarray((X @ self.coef_).todense()) + self.intercept_

    def proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        """The calibrated probability of each linear score (the fitted sigmoids)."""
        return expit(-(self.sigmoid_[:, 0] * decision + self.sigmoid_[:, 1]))

    def predict(self, texts: Sequence[str], threshold: float = 0.5) -> np.ndarray:
        """1 where a category's probability reaches ``threshold``, else 0."""
        return (self.predict_proba(texts) >= threshold).astype(np.int8)


def _fold(model: CalibratedClassifierCV) -> tuple[np.ndarray, float, tuple[float, float]]:
    """One binary calibrated linear model → (weights, intercept, (a, b) of its sigmoid)."""
    (calibrated,) = model.calibrated_classifiers_
    estimator = calibrated.estimator
    (calibrator,) = calibrated.calibrators
    if list(estimator.classes_) != [0, 1]:
        msg = f"expected classes [0, 1], got {list(estimator.classes_)}"
        raise ValueError(msg)
    weights = np.asarray(estimator.coef_, dtype=np.float64).ravel()
    intercept = float(np.ravel(estimator.intercept_)[0])
    return weights, intercept, (float(calibrator.a_), float(calibrator.b_))
