"""Text → sparse features: normalization inside the fitted transformer, hashed word and character
n-grams with TF-IDF weights, and a few scaled numeric signals.

Hashing instead of a learned vocabulary keeps the artifact small and fast to load (no vocabulary
dict to unpickle) and scores faster: feature lookup happens in compiled code. Each text is
normalized once per batch and the same normalized string feeds both n-gram blocks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.utils import murmurhash3_32
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_is_fitted

from models.normalize import SIGNAL_NAMES, Analysis, analyse

# Word tokens keep single characters (a lone 赌 or 黄 is informative) and numbers.
WORD_TOKEN_PATTERN = r"(?u)\b\w+\b"
_WORD_TOKENS = re.compile(WORD_TOKEN_PATTERN)


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
    """Normalize every distinct text once (a spam wave repeats one text across a batch) and
    collect its numeric signals in the same pass."""
    distinct: dict[str, Analysis] = {}
    results = []
    for text in texts:
        result = distinct.get(text) if isinstance(text, str) else None
        if result is None:
            result = analyse(text)
            if isinstance(text, str):
                distinct[text] = result
        results.append(result)
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


# token → its signed murmurhash3: chat repeats the same words, and one dict lookup is cheaper than
# hashing again. Bounded in entries (cleared when full) and in token length, so a flood of unique
# or long tokens cannot make it hold more than a few MB.
_TOKEN_HASHES: dict[str, int] = {}
_TOKEN_HASHES_MAX = 1 << 16
_TOKEN_CACHED_CHARS = 32


def word_counts(
    texts: Sequence[str], analyzer: Callable[[str], list[str]], n_features: int
) -> sp.csr_matrix:
    """What ``HashingVectorizer(alternate_sign=False, norm=None).transform`` returns for ``texts``
    with this ``analyzer``, with each token's hash remembered instead of recomputed."""
    hashes: list[int] = []
    indptr = [0]
    known = _TOKEN_HASHES
    for text in texts:
        for token in analyzer(text):
            h = known.get(token)
            if h is None:
                h = int(murmurhash3_32(token, seed=0))
                if len(token) <= _TOKEN_CACHED_CHARS:
                    if len(known) >= _TOKEN_HASHES_MAX:
                        known.clear()
                    known[token] = h
            hashes.append(h)
        indptr.append(len(hashes))
    signed = np.asarray(hashes, dtype=np.int64)
    # scikit-learn's column: abs(h) % n, with abs(INT32_MIN) taken as INT32_MAX - (n - 1)
    magnitude = np.where(signed == -(2**31), 2**31 - 1 - (n_features - 1), np.abs(signed))
    matrix = sp.csr_matrix(
        (np.ones(len(signed)), (magnitude % n_features).astype(np.int32), np.asarray(indptr)),
        shape=(len(texts), n_features),
    )
    matrix.sum_duplicates()
    return matrix


def tfidf(counts: sp.csr_matrix, fitted: TfidfTransformer) -> sp.csr_matrix:
    """``fitted.transform(counts)`` (``norm="l2"``) without its input validation, which cost
    more than the arithmetic on chat-sized batches; the same operations in the same order."""
    if fitted.norm != "l2" or not fitted.use_idf:
        return sp.csr_matrix(fitted.transform(counts))
    weighted = counts.astype(np.float64, copy=True)
    if fitted.sublinear_tf:
        np.log(weighted.data, weighted.data)
        weighted.data += 1.0
    weighted.data *= fitted.idf_[weighted.indices]
    inplace_csr_row_normalize_l2(weighted)
    return weighted


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
        return sp.hstack(self.transform_blocks(texts), format="csr")

    def transform_blocks(self, texts: Sequence[str]) -> list[sp.csr_matrix]:
        """``transform``'s column blocks before they are stacked: ``[word, char(, signals)]``.

        Scoring multiplies each block by its slice of the weights, which skips copying the
        batch into one wide matrix.
        """
        check_is_fitted(self, "word_tfidf_")
        normalized, signals = analyse_batch(list(texts))
        word_counts, char_counts = self._counts(normalized)
        return self._blocks(signals, word_counts, char_counts)

    def block_widths(self) -> tuple[int, ...]:
        """Number of columns of each block of ``transform_blocks``."""
        check_is_fitted(self, "word_tfidf_")
        widths = (self.word_features, self.char_features)
        return (*widths, len(self.signal_names_)) if self.signal_names_ else widths

    def _counts(self, normalized: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        # for unigrams scikit-learn's analyzer is the token pattern's findall behind three calls
        unigrams = tuple(self.word_ngram_range) == (1, 1)
        analyzer = _WORD_TOKENS.findall if unigrams else self.word_hasher_.build_analyzer()
        word = word_counts(normalized, analyzer, self.word_features)
        char = char_ngram_counts(normalized, self.char_ngram_range, self.char_features)
        return word, char

    @staticmethod
    def _scaled_log(signals: np.ndarray) -> np.ndarray:
        # log1p: a message with 40 URLs is not 40 times as suspicious as one with one URL
        return np.log1p(np.abs(signals))

    def _combine(
        self, signals: np.ndarray, word_counts: sp.csr_matrix, char_counts: sp.csr_matrix
    ) -> sp.csr_matrix:
        return sp.hstack(self._blocks(signals, word_counts, char_counts), format="csr")

    def _blocks(
        self, signals: np.ndarray, word_counts: sp.csr_matrix, char_counts: sp.csr_matrix
    ) -> list[sp.csr_matrix]:
        blocks = [tfidf(word_counts, self.word_tfidf_), tfidf(char_counts, self.char_tfidf_)]
        if self.signal_names_:
            scaled = self._scaled_log(signals) / self.signal_scale_ * self.signal_weight
            blocks.append(sp.csr_matrix(scaled))
        return blocks
