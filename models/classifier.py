"""``ModerationClassifier``: texts → one calibrated probability per category, a batch at a time.

One linear model per category, fitted only on the rows where that category is known
(``Y == -1`` is masked, never a negative): a spam corpus says nothing about hate. All categories
share one feature matrix, computed once per batch.

Calibration and threshold choice both need scores the model did not see the answer to, so
``fit_oof`` first fits the base model once per fold and keeps each row's out-of-fold score, then
fits the served model on every known row, and fits its sigmoid (Platt scaling) on the out-of-fold
scores, which is what ``CalibratedClassifierCV(ensemble=False)`` does. Folds keep a ``groups``
value together (identical and near-identical texts), so a duplicate in another fold cannot make
an out-of-fold score look better than a new message's would. The out-of-fold probabilities are
returned for choosing thresholds and are not kept in the artifact.

After fitting, each category's model is folded into one column of a sparse weight matrix plus its
sigmoid's two parameters: scoring a batch is then one sparse product and one ``expit`` instead of
a validated ``predict_proba`` call per category, and the artifact holds only non-zero weights.

One more linear model, the *any-harm head*, learns "harmful in any category" from every row
(``harm_target``), and a message's most likely category gets a score that mixes its own probability
with the head's (``harm_blend``; the default recipe uses 0.5); the other categories keep theirs. A
message its category alone is unsure of, because its wording shares a little with fraud and a
little with spam, still scores high when it is plainly harmful. Mixing into every category flagged
a little more but named a wrong extra category on half the flagged messages; mixing into the top
one names them as often as before. Thresholds are chosen on the mixed out-of-fold scores; the top
category's score is no longer a calibrated probability of that category alone. Off by default: on a
small corpus (the 2,000-row seed) the head learns accidents ("and" alone scored 1.0 there), so only
the default recipe, on 120,000 rows, turns it on.

``chat_domain`` (off in every recipe) fits the chat rows' own copy of the features beside the
shared ones and serves their sum. It raised recall on chat written like the project's corpus and
flagged other writers' ordinary text twice as often, so it is an option, not a default.

A category with fewer than ``min_class_rows`` known positives or negatives is an error
(``InsufficientLabels``), not silently skipped: a model that quietly lacks a category the data
names would let that category through unscored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, fields
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from models import normalize
from models.errors import InsufficientLabels
from models.features import DEFAULT_FEATURES, FeatureParams, TextFeatures

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1
_DENSE_WEIGHTS = "_dense_weights_cache"


class ModerationClassifier(BaseEstimator):
    """Multi-label text classifier; hyperparameters are keyword arguments stored as-is.

    Fitted, it is a ``models.scorer.Scorer`` (``labels``, ``score``); ``describe`` says what the
    version's metadata records about it.

    Args:
        word_ngram_range, char_ngram_range, word_features, char_features, sublinear_tf,
            use_signals, signal_weight, min_df, quoted_apart: passed to ``TextFeatures`` (defaults: ``FeatureParams``).
        base: ``"svm"`` (``LinearSVC``) or ``"logreg"`` (``LogisticRegression``) per category.
        C: inverse regularization strength of the base model.
        class_weight: ``"balanced"`` so rare categories are not drowned by clean traffic.
        harm_blend: weight of the any-harm head in the top category's score (0: no head).
        chat_domain: scale of the chat rows' own copy of the features (``domain`` rows in
            ``fit_oof``; 0: no copy). Larger lets chat differ more from the shared weights.
            Served text is scored as chat.
        calibration_folds: folds for the out-of-fold scores the sigmoid (and the thresholds)
            are fitted on.
        min_class_rows: known positives and negatives a category needs (at least the folds).
        random_state: seed for the folds.
    """

    def __init__(
        self,
        *,
        word_ngram_range: tuple[int, int] = DEFAULT_FEATURES.word_ngram_range,
        char_ngram_range: tuple[int, int] = DEFAULT_FEATURES.char_ngram_range,
        word_features: int = DEFAULT_FEATURES.word_features,
        char_features: int = DEFAULT_FEATURES.char_features,
        sublinear_tf: bool = DEFAULT_FEATURES.sublinear_tf,
        use_signals: bool = DEFAULT_FEATURES.use_signals,
        signal_weight: float = DEFAULT_FEATURES.signal_weight,
        min_df: int | None = DEFAULT_FEATURES.min_df,
        quoted_apart: bool = DEFAULT_FEATURES.quoted_apart,
        base: str = "svm",
        C: float = 0.5,
        class_weight: str | None = "balanced",
        harm_blend: float = 0.0,
        chat_domain: float = 0.0,
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
        self.min_df = min_df
        self.quoted_apart = quoted_apart
        self.base = base
        self.C = C
        self.class_weight = class_weight
        self.harm_blend = harm_blend
        self.chat_domain = chat_domain
        self.calibration_folds = calibration_folds
        self.min_class_rows = min_class_rows
        self.random_state = random_state

    def features(self) -> FeatureParams:
        """The feature hyperparameters, as ``TextFeatures`` takes them."""
        return FeatureParams(**{f.name: getattr(self, f.name) for f in fields(FeatureParams)})

    def feature_params(self) -> dict[str, object]:
        """The feature hyperparameters (recorded in the artifact metadata)."""
        return _jsonable(asdict(self.features()))

    @property
    def labels(self) -> tuple[str, ...]:
        """The categories scored, in column order (``Scorer``)."""
        check_is_fitted(self, "labels_")
        return self.labels_

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """``predict_proba``, under the name serving uses (``Scorer``)."""
        return self.predict_proba(texts)

    def describe(self) -> dict[str, Any]:
        """What ``metadata.json`` records about this model: its signals and parameters."""
        check_is_fitted(self, "features_")
        return {
            "signal_names": list(self.features_.signal_names_),
            "normalizer": normalize.fingerprint(),
            "feature_params": self.feature_params(),
            "model_params": _jsonable(self.get_params()),
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
        self,
        texts: Sequence[str],
        Y: np.ndarray,
        labels: Sequence[str] | None = None,
        groups: Sequence[int] | np.ndarray | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
    ) -> ModerationClassifier:
        """Fit on ``texts`` and ``Y`` (``n_rows × n_labels`` of 1, 0 or -1 for unknown)."""
        self.fit_oof(texts, Y, labels, groups, sample_weight=sample_weight)
        return self

    def fit_oof(
        self,
        texts: Sequence[str],
        Y: np.ndarray,
        labels: Sequence[str] | None = None,
        groups: Sequence[int] | np.ndarray | None = None,
        progress: Callable[[str], None] | None = None,
        sample_weight: Sequence[float] | np.ndarray | None = None,
        domain: Sequence[bool] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Fit, and return each row's out-of-fold calibrated probability (NaN where unknown).

        ``groups``: one value per row; rows sharing a value are never split across folds.
        ``sample_weight``: one weight per row for the base models (the sigmoid is unweighted).
        ``domain``: True for the chat rows (used with ``chat_domain``; see ``_domain_copy``).
        """
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
        group_ids = (
            np.arange(len(texts)) if groups is None else np.unique(groups, return_inverse=True)[1]
        )
        if len(group_ids) != len(texts):
            msg = f"{len(group_ids)} groups for {len(texts)} texts"
            raise ValueError(msg)
        say = progress or (lambda _message: None)
        weight = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight, float)
        if weight.shape != (len(texts),) or not (weight > 0).all():
            msg = f"sample_weight: {len(texts)} positive weights expected"
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

        say(f"features for {len(texts)} texts")
        self.features_ = TextFeatures(**asdict(self.features()))
        X = self.features_.fit_transform(texts)
        chat = np.zeros(len(texts), bool) if domain is None else np.asarray(domain, dtype=bool)
        if chat.shape != (len(texts),):
            msg = f"domain: {len(texts)} values expected"
            raise ValueError(msg)
        if self.chat_domain > 0 and chat.any() and not chat.all():
            say(f"chat rows' own weights beside the shared ones ({int(chat.sum())} chat rows)")
            X = _domain_copy(X, chat, self.chat_domain)
        columns, intercepts, sigmoids = [], [], []
        oof = np.full(Y.shape, np.nan)
        targets = [(name, Y[:, j]) for j, name in enumerate(names)]
        harm = harm_target(Y)
        with_head = self.harm_blend > 0
        if with_head and min((harm == c).sum() for c in (POSITIVE, NEGATIVE)) < needed:
            say("any harm: too few harmful or harmless rows, no harm head")
            with_head = False
        if with_head:
            targets.append(("any harm", harm))
        harm_oof = np.full(len(texts), np.nan)
        for j, (name, y) in enumerate(targets):
            known = np.flatnonzero(y != UNKNOWN)
            held_out, weights, intercept, sigmoid = self._fit_column(
                name, X[known], y[known], weight[known], group_ids[known], say
            )
            if j < len(names):
                oof[known, j] = held_out
            else:
                harm_oof[known] = held_out
            columns.append(sp.csc_matrix(weights.reshape(-1, 1)))
            intercepts.append(intercept)
            sigmoids.append(sigmoid)
        self.coef_ = sp.hstack(columns, format="csr")  # (n_features, n_labels [+ head]), sparse
        self.intercept_ = np.asarray(intercepts)
        self.sigmoid_ = np.asarray(sigmoids)  # (n_labels, 2): a, b of expit(-(a * d + b))
        self.labels_ = names
        self.label_counts_ = counts
        return self._blend(oof, harm_oof[:, None]) if with_head else oof

    def _fit_column(
        self,
        name: str,
        X: sp.csr_matrix,
        y: np.ndarray,
        weight: np.ndarray,
        groups: np.ndarray,
        say: Callable[[str], None],
    ) -> tuple[np.ndarray, np.ndarray, float, tuple[float, float]]:
        """One linear model on the known rows of one target: its out-of-fold probabilities,
        the served model's weights and intercept, and the sigmoid fitted out of fold."""
        if min(_distinct(groups[y == c]) for c in (POSITIVE, NEGATIVE)) < self.calibration_folds:
            # too few distinct texts of one class to keep them whole in every fold
            say(f"{name}: fewer groups than folds, folding rows instead of groups")
            groups = np.arange(len(y))
        folds = grouped_folds(groups, y, self.calibration_folds, self.random_state)
        decision = np.empty(len(y))
        for k in range(self.calibration_folds):
            say(f"{name}: fold {k + 1}/{self.calibration_folds} ({len(y)} known rows)")
            held = folds == k
            model = clone(self._base_estimator()).fit(
                X[~held], y[~held], sample_weight=weight[~held]
            )
            decision[held] = self._served_decision(model, X[held])
        say(f"{name}: final fit on {len(y)} rows")
        final = clone(self._base_estimator()).fit(X, y, sample_weight=weight)
        a, b = platt_sigmoid(decision, y)
        n = sum(self.features_.block_widths())
        weights = self._served_weights(np.asarray(final.coef_, dtype=np.float64).ravel(), n)
        return expit(-(a * decision + b)), weights, float(np.ravel(final.intercept_)[0]), (a, b)

    def _served_decision(self, model: BaseEstimator, X: sp.csr_matrix) -> np.ndarray:
        """A held-out row's score as serving will compute it: with the chat weights added to
        the shared ones, whichever domain the row came from."""
        n = sum(self.features_.block_widths())
        if X.shape[1] == n:
            return np.asarray(model.decision_function(X))
        weights = self._served_weights(np.asarray(model.coef_, dtype=np.float64).ravel(), n)
        return np.asarray(X[:, :n] @ weights) + float(np.ravel(model.intercept_)[0])

    def _served_weights(self, weights: np.ndarray, n_features: int) -> np.ndarray:
        """Weights over one copy of the features: the shared block plus the scaled chat block
        when the fit was augmented (twice ``n_features`` weights), else as fitted."""
        if len(weights) == 2 * n_features:
            return weights[:n_features] + self.chat_domain * weights[n_features:]
        return weights

    def _blend(self, category: np.ndarray, harm: np.ndarray) -> np.ndarray:
        """The any-harm probability mixed (``harm_blend``) into each row's most likely category;
        the other categories keep their own scores, so a fraud message does not also read as
        hate. NaN (unknown, out of fold) stays NaN."""
        mixed = category.copy()
        rows = np.arange(len(category))
        top = np.nan_to_num(category, nan=-1.0).argmax(axis=1)
        mixed[rows, top] = (1.0 - self.harm_blend) * category[rows, top] + (
            self.harm_blend * harm[:, 0]
        )
        return mixed

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Score of each category, shape ``(len(texts), len(labels_))``: its calibrated
        probability, mixed with the any-harm head's when ``harm_blend`` is on."""
        proba = self.proba_from_decision(self.decision_function(texts))
        n = len(self.labels_)
        if proba.shape[1] == n:  # no harm head (``harm_blend`` 0, or fitted before it existed)
            return proba
        return self._blend(proba[:, :n], proba[:, n:])

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated linear score of each category, shape ``(len(texts), len(labels_))``, then
        the any-harm head's when the model has one."""
        check_is_fitted(self, "coef_")
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.intercept_)))
        blocks = self.features_.transform_blocks(texts)
        decision = np.tile(self.intercept_, (len(texts), 1))
        for block, weights in zip(blocks, self._dense_weights(), strict=True):
            decision += block @ weights
        return decision

    def drop_caches(self) -> None:
        """Forget what scoring built (dense weights, lookup tables: 120 MB of the default
        model); the next ``score`` builds them again. A worker whose model scores in a child
        process keeps its own copy cold (``streams.model_holder``)."""
        self.__dict__.pop(_DENSE_WEIGHTS, None)
        self.features_.drop_caches()

    def _dense_weights(self) -> list[np.ndarray]:
        """``coef_`` as one dense array per feature block, made on first use and not pickled.

        A sparse batch times dense weights is one pass over the batch's non-zeros; times the
        sparse ``coef_`` it was a general sparse product, a fifth of scoring time. The dense
        copy costs 8 bytes per feature and category (38 MB for the default 786,432 features and
        six categories) in memory, not in the artifact.
        """
        cached: list[np.ndarray] | None = self.__dict__.get(_DENSE_WEIGHTS)
        if cached is None:
            dense = self.coef_.toarray()
            edges = np.cumsum((0, *self.features_.block_widths()))
            cached = [dense[lo:hi] for lo, hi in pairwise(edges)]
            self.__dict__[_DENSE_WEIGHTS] = cached
        return cached

    def __setstate__(self, state: dict[str, Any]) -> None:
        # saved before the vocabulary existed: those models hash into fixed column spaces
        state.setdefault("min_df", None)
        state.setdefault("chat_domain", 0.0)  # saved before the chat copy existed
        state.setdefault("quoted_apart", False)  # saved before quotes were read apart
        super().__setstate__(state)

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state = dict(state)
        state.pop(_DENSE_WEIGHTS, None)
        return state

    def proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        """The calibrated probability of each linear score (the fitted sigmoids)."""
        return expit(-(self.sigmoid_[:, 0] * decision + self.sigmoid_[:, 1]))

    def predict(self, texts: Sequence[str], threshold: float = 0.5) -> np.ndarray:
        """1 where a category's probability reaches ``threshold``, else 0."""
        return (self.predict_proba(texts) >= threshold).astype(np.int8)


def _domain_copy(X: sp.csr_matrix, chat: np.ndarray, scale: float) -> sp.csr_matrix:
    """``[X, scale * X on chat rows only]``: Daume's feature augmentation. The shared block
    learns what holds in every source; the second, seen only on chat rows, learns how chat
    differs (a public spam set's "free" is not a friend's). Serving scores text as chat: both
    blocks' weights summed over one copy of the features (``_served_weights``)."""
    only_chat = sp.diags(scale * chat.astype(X.dtype)) @ X
    return sp.hstack([X, only_chat], format="csr")


def harm_target(Y: np.ndarray) -> np.ndarray:
    """The any-harm head's labels: 1 where a row is positive for some category, 0 where it is
    negative for every category its source labelled, unknown where it says nothing.

    A ham SMS counts as harmless although its set never asked about hate: the head learns what
    ordinary traffic looks like, and most such rows are exactly that.
    """
    harmful = (Y == POSITIVE).any(axis=1)
    harmless = ~harmful & (Y == NEGATIVE).any(axis=1)
    return np.where(harmful, POSITIVE, np.where(harmless, NEGATIVE, UNKNOWN)).astype(np.int8)


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in params.items()
    }


def _distinct(values: np.ndarray) -> int:
    return len(np.unique(values))


def grouped_folds(groups: np.ndarray, y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: every group in one fold, positives and negatives spread evenly.

    Groups holding a positive are dealt round-robin in a seeded order, then the others, so each
    fold gets its share of a rare category's positives (as ``StratifiedGroupKFold`` would, in
    linear time).
    """
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    has_positive = np.zeros(n_groups, dtype=bool)
    has_positive[groups[y == POSITIVE]] = True
    rng = np.random.default_rng(seed)
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    present = np.zeros(n_groups, dtype=bool)
    present[groups] = True
    offset = 0
    for members in (np.flatnonzero(has_positive), np.flatnonzero(present & ~has_positive)):
        order = members[rng.permutation(len(members))]
        fold_of_group[order] = (np.arange(len(order)) + offset) % n_folds
        offset += len(order)
    return fold_of_group[groups]


def platt_sigmoid(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's (a, b) with ``P(y=1) = expit(-(a * d + b))``, fitted on held-out scores ``d``.

    Targets are Platt's smoothed ones ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)), as in
    scikit-learn's sigmoid calibration, so a perfectly separated fold still gives a finite slope.
    """
    n_pos = float((y == POSITIVE).sum())
    n_neg = float(len(y) - n_pos)
    target = np.where(y == POSITIVE, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * decision + ab[1]
        p = expit(-z)
        # log-loss of p against the soft targets, written stably with logaddexp
        value = float(np.sum(target * np.logaddexp(0, z) + (1 - target) * np.logaddexp(0, -z)))
        grad_z = target - p  # d loss / d z
        return value, np.array([float(grad_z @ decision), float(grad_z.sum())])

    start = np.array([0.0, float(np.log((n_neg + 1) / (n_pos + 1)))])
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    a, b = result.x
    return float(a), float(b)
