"""Scoring's shortcuts give what the plain scikit-learn path gives: the same word counts as
``HashingVectorizer``, the same TF-IDF as ``TfidfTransformer``, the same decision as the stacked
feature matrix times ``coef_``, and the dense weights they use stay out of the artifact."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from models import features
from models.classifier import ModerationClassifier
from models.features import analyse_batch, tfidf
from models.normalize import Analysis, analyse
from tests.unit.toy_corpus import LABELS, toy_data

TEXTS = [
    "win a free prize now at 77 win win",
    "see you at the meeting 5",
    "滚出去 垃圾 1 滚出去",
    "",
    "   ",
    "a b c d e f",
    "ｆｒｅｅ 加★微★信 vx abc12345 http://x.top/a",
]


@pytest.fixture(scope="module")
def fitted() -> ModerationClassifier:
    texts, Y = toy_data()
    return ModerationClassifier(use_signals=True).fit(texts, Y, LABELS)


def _counts(fitted: ModerationClassifier, texts: list[str]) -> tuple[sp.csr_matrix, Any]:
    """The hashed word counts (the scheme without a vocabulary) and scikit-learn's."""
    normalized, _ = analyse_batch(texts)
    own = fitted.features_
    ours = features.word_counts(normalized, own._analyzer(), own.word_features)
    return ours, own.word_hasher_.transform(normalized)


def test_word_counts_are_scikit_learns_for_word_bigrams_too() -> None:
    texts, Y = toy_data(120)
    bigrams = ModerationClassifier(word_ngram_range=(1, 2), min_df=None).fit(texts, Y, LABELS)
    normalized, _ = analyse_batch(TEXTS)
    ours, _ = bigrams.features_._counts(normalized)
    assert (ours != bigrams.features_.word_hasher_.transform(normalized)).nnz == 0
    unigrams = sum(len(text.split()) for text in normalized)
    assert ours.sum() > unigrams  # the bigrams are there


def test_word_counts_are_scikit_learns(fitted: ModerationClassifier) -> None:
    ours, reference = _counts(fitted, TEXTS)
    assert (ours != reference).nnz == 0
    assert ours.sum() == reference.sum() > 0


@given(st.lists(st.text(max_size=60), min_size=1, max_size=8))
def test_word_counts_are_scikit_learns_on_any_text(
    fitted: ModerationClassifier, texts: list[str]
) -> None:
    ours, reference = _counts(fitted, texts)
    assert ours.shape == reference.shape
    assert (ours != reference).nnz == 0


def test_tfidf_is_scikit_learns(fitted: ModerationClassifier) -> None:
    features = fitted.features_
    counts, _ = features._counts(analyse_batch(TEXTS)[0])
    ours = tfidf(counts, features.word_tfidf_)
    reference = features.word_tfidf_.transform(counts)
    np.testing.assert_array_equal(ours.toarray(), reference.toarray())
    assert ours.nnz > 0


def test_decision_is_the_stacked_features_times_the_weights(fitted: ModerationClassifier) -> None:
    texts, _ = toy_data(60, seed=3)
    texts = [*texts, *TEXTS]
    stacked = fitted.features_.transform(texts)
    assert stacked.shape[1] == sum(fitted.features_.block_widths())
    reference = np.asarray((stacked @ fitted.coef_).todense()) + fitted.intercept_
    np.testing.assert_allclose(fitted.decision_function(texts), reference, rtol=0, atol=1e-9)


def test_dense_weights_are_not_pickled(fitted: ModerationClassifier) -> None:
    fitted.score(["warm the cache"])
    assert len(vars(fitted)) > len(fitted.__getstate__())
    copy = pickle.loads(pickle.dumps(fitted))
    assert vars(copy).keys() == fitted.__getstate__().keys() - {"_sklearn_version"}
    np.testing.assert_array_equal(copy.score(TEXTS), fitted.score(TEXTS))


def test_the_word_hash_memory_stays_bounded(fitted: ModerationClassifier) -> None:
    long_token = "x" * (features._TOKEN_CACHED_CHARS + 1)
    flood = [f"{long_token} w{i}" for i in range(features._TOKEN_HASHES_MAX + 10)]
    ours, reference = _counts(fitted, flood)
    assert (ours != reference).nnz == 0
    assert len(features._TOKEN_HASHES) <= features._TOKEN_HASHES_MAX
    assert long_token not in features._TOKEN_HASHES


def test_a_repeated_text_is_normalized_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(text: str) -> Analysis:
        calls.append(text)
        return analyse(text)

    monkeypatch.setattr(features, "analyse", counted)
    batch = ["加微信 vx12345", "hello", "加微信 vx12345", "加微信 vx12345"]
    normalized, signals = analyse_batch(batch)
    assert sorted(calls) == ["hello", "加微信 vx12345"]
    assert normalized == [analyse(t)[0] for t in batch]
    np.testing.assert_array_equal(signals, [analyse(t)[1] for t in batch])
