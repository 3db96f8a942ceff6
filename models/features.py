"""Text → sparse features: normalization inside the fitted transformer, hashed word and character
n-grams with TF-IDF weights, and a few scaled numeric signals.

Hashing instead of a learned vocabulary keeps the artifact small and fast to load (no vocabulary
dict to unpickle) and scores faster: feature lookup happens in compiled code. Each text is
normalized once per batch and the same normalized string feeds both n-gram blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from models.normalize import SIGNAL_NAMES, analyse

# Word tokens keep single characters (a lone 赌 or 黄 is informative) and numbers.
WORD_TOKEN_PATTERN = r"(?u)\b\w+\b"


@dataclass(frozen=True)
class FeatureParams:
    """``TextFeatures``' hyperparameters; the defaults are the served models' and the one source
    of them (``ModerationClassifier`` takes the same names with these defaults)."""

    word_ngram_range: tuple[int, int] = (1, 1)
    char_ngram_range: tuple[int, int] = (1, 4)
    word_features: int = 2**18
    char_features: int = 2**19
    sublinear_tf: bool = True
    use_signals: bool = False
    signal_weight: float = 1.0


DEFAULT_FEATURES = FeatureParams()


def analyse_batch(texts: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """Normalize every text once and collect its numeric signals in the same pass."""
    results = [analyse(t) for t in texts]
    normalized = [r[0] for r in results]
    signals = np.asarray([r[1] for r in results], dtype=np.float64).reshape(-1, len(SIGNAL_NAMES))
    return normalized, signals


_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)


def char_ngram_counts(
    texts: Sequence[str], ngram_range: tuple[int, int], n_features: int
) -> sp.csr_matrix:
    """Hashed character n-gram counts for a batch, computed with array operations.

    Equivalent in spirit to ``HashingVectorizer(analyzer="char")`` on ``" " + text + " "`` with
    whitespace collapsed, but the whole batch is hashed at once in numpy (a rolling polynomial hash
    over code points, then a 64-bit finalizer) instead of one Python call per n-gram, which made
    the scikit-learn analyzer the slowest step of scoring.
    """
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    n_docs = len(texts)
    # NUL separates documents; it cannot survive in a window because windows containing it are
    # dropped, and any NUL inside a text is turned into a space first.
    joined = "\x00".join(" " + " ".join(t.replace("\x00", " ").split()) + " " for t in texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    is_sep = codes == 0
    doc_of = np.cumsum(is_sep)
    seps_before = np.concatenate(([0], doc_of))  # seps_before[i] = separators in codes[:i]
    rows_parts, cols_parts = [], []
    length = len(codes)
    for n in range(lo, hi + 1):
        count = length - n + 1
        if count <= 0:
            break
        h = codes[:count] + np.uint64(n)
        for k in range(1, n):
            h = h * _PRIME + codes[k : k + count]
        valid = seps_before[n : n + count] == seps_before[:count]
        h = h[valid]
        h ^= h >> _SHIFT
        h *= _MIX1
        h ^= h >> _SHIFT
        h *= _MIX2
        h ^= h >> _SHIFT
        cols_parts.append((h % np.uint64(n_features)).astype(np.int64))
        rows_parts.append(doc_of[:count][valid])
    if not cols_parts:
        return sp.csr_matrix((n_docs, n_features))
    rows = np.concatenate(rows_parts)
    cols = np.concatenate(cols_parts)
    data = np.ones(len(rows), dtype=np.float64)
    matrix = sp.coo_matrix((data, (rows, cols)), shape=(n_docs, n_features)).tocsr()
    matrix.sum_duplicates()
    return matrix


class TextFeatures(TransformerMixin, BaseEstimator):
    """Raw texts → ``[word TF-IDF | char TF-IDF | signals]`` as one CSR matrix.

    Args:
        word_ngram_range: word n-gram sizes on the normalized text.
        char_ngram_range: character n-gram sizes (1 keeps single Chinese characters).
        word_features, char_features: hashing space sizes; they bound the artifact size.
        sublinear_tf: use ``1 + log(tf)`` so repeated bait words do not dominate.
        use_signals: append the normalizer's numeric signals (URL, phone, money counts ...).
        signal_weight: scale of the signal block next to the unit-norm n-gram blocks.
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
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.word_features = word_features
        self.char_features = char_features
        self.sublinear_tf = sublinear_tf
        self.use_signals = use_signals
        self.signal_weight = signal_weight

    def fit(self, texts: Sequence[str], y: object = None) -> TextFeatures:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Sequence[str], y: object = None, **_: object) -> sp.csr_matrix:
        texts = list(texts)
        # lowercase=False: normalize() already casefolds, and doing it twice costs time.
        self.word_hasher_ = HashingVectorizer(
            analyzer="word",
            ngram_range=tuple(self.word_ngram_range),
            token_pattern=WORD_TOKEN_PATTERN,
            n_features=self.word_features,
            alternate_sign=False,
            norm=None,
            lowercase=False,
        )
        normalized, signals = analyse_batch(texts)
        word_counts, char_counts = self._counts(normalized)
        self.word_tfidf_ = TfidfTransformer(sublinear_tf=self.sublinear_tf).fit(word_counts)
        self.char_tfidf_ = TfidfTransformer(sublinear_tf=self.sublinear_tf).fit(char_counts)
        self.signal_names_: tuple[str, ...] = SIGNAL_NAMES if self.use_signals else ()
        if self.use_signals:
            raw = self._scaled_log(signals)
            scale = raw.max(axis=0) if len(raw) else np.ones(len(SIGNAL_NAMES))
            self.signal_scale_ = np.where(scale > 0, scale, 1.0)
        return self._combine(signals, word_counts, char_counts)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        check_is_fitted(self, "word_tfidf_")
        texts = list(texts)
        normalized, signals = analyse_batch(texts)
        word_counts, char_counts = self._counts(normalized)
        return self._combine(signals, word_counts, char_counts)

    def _counts(self, normalized: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        word = self.word_hasher_.transform(normalized)
        char = char_ngram_counts(normalized, self.char_ngram_range, self.char_features)
        return word, char

    @staticmethod
    def _scaled_log(signals: np.ndarray) -> np.ndarray:
        # log1p: a message with 40 URLs is not 40 times as suspicious as one with one URL
        return np.log1p(np.abs(signals))

    def _combine(
        self, signals: np.ndarray, word_counts: sp.csr_matrix, char_counts: sp.csr_matrix
    ) -> sp.csr_matrix:
        blocks = [self.word_tfidf_.transform(word_counts), self.char_tfidf_.transform(char_counts)]
        if self.signal_names_:
            scaled = self._scaled_log(signals) / self.signal_scale_ * self.signal_weight
            blocks.append(sp.csr_matrix(scaled))
        return sp.hstack(blocks, format="csr")
