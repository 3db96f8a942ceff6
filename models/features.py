"""Text → sparse features: normalization inside the fitted transformer, word and character n-grams
with TF-IDF weights, and a few scaled numeric signals.

Every n-gram is hashed in array code, and the hashes seen in at least ``min_df`` training texts
become the vocabulary: a sorted array of 64-bit hashes, looked up with ``np.searchsorted``. This
keeps what a string vocabulary gives (no collisions, an n-gram seen once in training is not a
feature, unseen n-grams do not dilute a text's norm) at the cost of hashing: no dict of strings to
unpickle, and lookup happens in compiled code. Pruning the once-seen n-grams was worth 1–2 points of
accuracy on the Chinese public sets against hashing every n-gram into 2^19 columns (benchmarks/
quality.py). ``min_df=None`` keeps the older scheme, hashed modulo ``word_features`` /
``char_features`` columns, in which models trained before the vocabulary were saved.
Each text is normalized once per batch and the same normalized string feeds both n-gram blocks.
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
    min_df: int | None = 2
    quoted_apart: bool = False


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


def char_ngram_hashes(
    texts: Sequence[str], ngram_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Row number and 64-bit hash of every character n-gram of a batch, computed with array
    operations.

    The n-grams are those of ``" " + text + " "`` with whitespace collapsed (like
    ``HashingVectorizer(analyzer="char")``), but the whole batch is hashed at once in numpy (a
    rolling polynomial hash over code points, then a 64-bit finalizer) instead of one Python call
    per n-gram, which made the scikit-learn analyzer the slowest step of scoring.
    """
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    # NUL separates documents; it cannot survive in a window because windows containing it are
    # dropped, and any NUL inside a text is turned into a space first.
    joined = "\x00".join(" " + " ".join(t.replace("\x00", " ").split()) + " " for t in texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    is_sep = codes == 0
    doc_of = np.cumsum(is_sep)
    seps_before = np.concatenate(([0], doc_of))  # seps_before[i] = separators in codes[:i]
    rows_parts, hash_parts = [], []
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
        hash_parts.append(h)
        rows_parts.append(doc_of[:count][valid])
    if not hash_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return np.concatenate(rows_parts).astype(np.int64), np.concatenate(hash_parts)


def char_ngram_counts(
    texts: Sequence[str], ngram_range: tuple[int, int], n_features: int
) -> sp.csr_matrix:
    """Hashed character n-gram counts for a batch, in ``n_features`` columns (hash modulo)."""
    rows, hashes = char_ngram_hashes(texts, ngram_range)
    columns = (hashes % np.uint64(n_features)).astype(np.int64)
    return count_matrix(rows, columns, len(texts), n_features)


def count_matrix(rows: np.ndarray, columns: np.ndarray, n_rows: int, width: int) -> sp.csr_matrix:
    """CSR counts of (row, column) occurrences, duplicates summed."""
    data = np.ones(len(rows), dtype=np.float64)
    matrix = sp.coo_matrix((data, (rows, columns)), shape=(n_rows, width)).tocsr()
    matrix.sum_duplicates()
    return matrix


# token → its signed murmurhash3: chat repeats the same words, and one dict lookup is cheaper than
# hashing again. Bounded in entries (cleared when full) and in token length, so a flood of unique
# or long tokens cannot make it hold more than a few MB.
_TOKEN_HASHES: dict[str, int] = {}
_TOKEN_HASHES_MAX = 1 << 16
_TOKEN_CACHED_CHARS = 32


def word_hashes(
    texts: Sequence[str], analyzer: Callable[[str], list[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Row number and signed 32-bit murmurhash3 of every token ``analyzer`` yields, with each
    token's hash remembered instead of recomputed."""
    hashes: list[int] = []
    lengths = []
    known = _TOKEN_HASHES
    for text in texts:
        tokens = analyzer(text)
        lengths.append(len(tokens))
        for token in tokens:
            h = known.get(token)
            if h is None:
                h = int(murmurhash3_32(token, seed=0))
                if len(token) <= _TOKEN_CACHED_CHARS:
                    if len(known) >= _TOKEN_HASHES_MAX:
                        known.clear()
                    known[token] = h
            hashes.append(h)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    return rows, np.asarray(hashes, dtype=np.int64)


def word_counts(
    texts: Sequence[str], analyzer: Callable[[str], list[str]], n_features: int
) -> sp.csr_matrix:
    """What ``HashingVectorizer(alternate_sign=False, norm=None).transform`` returns for ``texts``
    with this ``analyzer``."""
    rows, signed = word_hashes(texts, analyzer)
    # scikit-learn's column: abs(h) % n, with abs(INT32_MIN) taken as INT32_MAX - (n - 1)
    magnitude = np.where(signed == -(2**31), 2**31 - 1 - (n_features - 1), np.abs(signed))
    return count_matrix(rows, magnitude % n_features, len(texts), n_features)


# A quoted span: “…”, 「…」, 『…』, "…", ‘…’, or '…' not inside a word (so "don't" opens nothing).
# Each alternative stops at the next quote mark of its kind, so the search is linear in the text.
_QUOTED = re.compile(
    r"“[^“”]{2,}”|「[^「」]{2,}」|『[^『』]{2,}』|\"[^\"]{2,}\"|‘[^‘’]{2,}’|(?<!\w)'[^']{2,}'(?!\w)"
)
_QUOTE_MARK = re.compile(r"[“「『\"‘']")
_WORD_CHAR = re.compile(r"\w")
# The text around the quotes must say something of its own: at least this many word characters,
# and half as many as the quotes hold (a message wrapped whole in quote marks, or a long payload
# behind "look at this:", is read as it is).
MIN_FRAME_CHARS = 4
FRAME_SHARE = 0.5
# A quote holding a way to reach someone (digits, a link or host, a messenger handle) is bait
# whoever quotes it, so its words stay the sender's own.
_CONTACT_BAIT = re.compile(
    r"\d[\d\s\-]{3,}\d|https?|www|\w\.(?:com|cn|net|org|top|vip|cc|xyz|me|io|app|link)\b"
    r"|\b(?:vx|wx|weixin|wechat|qq|telegram|tg|whatsapp|snap|ig|dm)\b|@\w"
    r"|微信|薇信|威信|v信|扣扣|企鹅|加我|私我|私聊",
    re.ASCII | re.IGNORECASE,
)
# quoted n-grams live in a hash space of their own: words above the 32-bit murmur range, characters
# remixed with a different multiplier
_QUOTED_WORD = np.uint64(1 << 40)
_QUOTED_MIX = np.uint64(0x9E3779B97F4A7C15)


def split_quotes(text: str) -> tuple[str, str]:
    """``text`` with each quoted span emptied (its marks kept: "he called me “”" still says that
    someone was quoted), and the quoted spans joined by newlines; ``(text, "")`` when nothing is
    quoted, the frame is too short, or a quote holds contact bait.

    Complaints, warnings and "is this real?" questions quote the abuse they are about; read apart,
    the quoted words are evidence the model weighs from quoted training text, not the same
    evidence as the sender's own words.
    """
    if _QUOTE_MARK.search(text) is None:
        return text, ""
    spans = [m.span() for m in _QUOTED.finditer(text)]
    if not spans:
        return text, ""
    frame, quoted, at = [], [], 0
    for start, end in spans:
        frame.append(text[at : start + 1])
        frame.append(text[end - 1])
        quoted.append(text[start + 1 : end - 1])
        at = end
    frame.append(text[at:])
    outside, inside = "".join(frame), "\n".join(quoted)
    frame_chars = len(_WORD_CHAR.findall(outside))
    if frame_chars < max(MIN_FRAME_CHARS, FRAME_SHARE * len(_WORD_CHAR.findall(inside))):
        return text, ""
    if _CONTACT_BAIT.search(inside) is not None:
        return text, ""
    return outside, inside


class HashVocabulary:
    """The n-gram hashes seen in at least ``min_df`` training texts, sorted; a hash's column is
    its place in the array.

    Lookup goes through an open-addressing table (linear probing, at most half full) built from
    the array on first use and never pickled: one or two random reads per n-gram, where a binary
    search of a million hashes made twenty and cost a third of scoring time.
    """

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)

    @classmethod
    def fit(cls, rows: np.ndarray, hashes: np.ndarray, n_rows: int, min_df: int) -> HashVocabulary:
        keys, inverse = np.unique(hashes, return_inverse=True)
        present = count_matrix(rows, inverse.ravel(), n_rows, len(keys))  # one entry per text
        document_frequency = np.bincount(present.indices, minlength=len(keys))
        return cls(keys[document_frequency >= min_df])

    def __len__(self) -> int:
        return len(self.hashes)

    def __getstate__(self) -> dict[str, object]:
        return {"hashes": self.hashes}

    def __setstate__(self, state: dict[str, np.ndarray]) -> None:
        self.hashes = state["hashes"]

    def drop_caches(self) -> None:
        """Forget the lookup table; the next lookup builds it again."""
        self.__dict__.pop("_lookup", None)

    def columns(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's column, or -1 where it is not in the vocabulary."""
        table, column = self._table()
        last = np.int64(len(table) - 1)
        slot = (hashes & np.uint64(last)).astype(np.int64)
        found = np.full(len(hashes), -1, dtype=np.int64)
        pending = np.arange(len(hashes))
        while len(pending):  # each round probes the next slot for the hashes not yet settled
            at = slot[pending]
            held = column[at]
            hit = (held >= 0) & (table[at] == hashes[pending])
            found[pending[hit]] = held[hit]
            go_on = (held >= 0) & ~hit
            pending = pending[go_on]
            slot[pending] = (at[go_on] + 1) & last
        return found

    def counts(self, rows: np.ndarray, hashes: np.ndarray, n_rows: int) -> sp.csr_matrix:
        """Counts of the known n-grams per row; unknown ones are dropped."""
        column = self.columns(hashes)
        known = column >= 0
        return count_matrix(rows[known], column[known], n_rows, len(self.hashes))

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        built: tuple[np.ndarray, np.ndarray] | None = self.__dict__.get("_lookup")
        if built is None:
            built = _probe_table(self.hashes)
            self.__dict__["_lookup"] = built
        return built


def _probe_table(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear-probing table of ``keys`` (at most half full): the key in each slot, and its
    column (-1: empty). Keys are inserted a round at a time, one per contested slot: every
    contender writes its column into its free slot, and the one whose write stayed has it (no
    sort per round; this table is built when a model first scores, so it is load time)."""
    size = 1 << max(4, int(2 * len(keys) - 1).bit_length())
    last = np.int64(size - 1)
    table = np.zeros(size, dtype=np.uint64)
    column = np.full(size, -1, dtype=np.int64)
    slot = (keys & np.uint64(last)).astype(np.int64)
    pending = np.arange(len(keys))
    while len(pending):
        at = slot[pending]
        free = np.flatnonzero(column[at] < 0)
        contenders, where = pending[free], at[free]
        column[where] = contenders  # one write per slot stays
        won = column[where] == contenders
        table[where[won]] = keys[contenders[won]]
        stays = np.ones(len(pending), dtype=bool)
        stays[free[won]] = False
        pending = pending[stays]
        slot[pending] = (slot[pending] + 1) & last
    return table, column


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
        word_features, char_features: hashing space sizes without a vocabulary (``min_df``
            None); they bound the artifact size.
        sublinear_tf: use ``1 + log(tf)`` so repeated bait words do not dominate.
        use_signals: append the normalizer's numeric signals (URL, phone, money counts ...).
        signal_weight: scale of the signal block next to the unit-norm n-gram blocks.
        min_df: an n-gram is a feature when at least this many training texts hold it
            (a vocabulary of hashes); None hashes every n-gram into the fixed column spaces.
        quoted_apart: n-grams inside quote marks are features of their own (``split_quotes``);
            needs ``min_df``.
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

    def __setstate__(self, state: dict[str, object]) -> None:
        # saved before the vocabulary existed: those models hash into fixed column spaces
        state.setdefault("min_df", None)
        state.setdefault("quoted_apart", False)  # saved before quotes were read apart
        super().__setstate__(state)

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
        if self.min_df is None:
            word_counts, char_counts = self._counts(normalized)
        else:
            if self.min_df < 1:
                msg = f"min_df={self.min_df}: use a count of at least 1, or None"
                raise ValueError(msg)
            # hash the training texts once: the same hashes fit the vocabularies and are counted
            word_rows, words, char_rows, chars = self._hashes(normalized)
            n = len(normalized)
            self.word_vocabulary_ = HashVocabulary.fit(word_rows, words, n, self.min_df)
            self.char_vocabulary_ = HashVocabulary.fit(char_rows, chars, n, self.min_df)
            word_counts = self.word_vocabulary_.counts(word_rows, words, n)
            char_counts = self.char_vocabulary_.counts(char_rows, chars, n)
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

    def drop_caches(self) -> None:
        """Forget what scoring built (the vocabularies' lookup tables)."""
        for name in ("word_vocabulary_", "char_vocabulary_"):
            vocabulary = self.__dict__.get(name)
            if vocabulary is not None:
                vocabulary.drop_caches()

    def block_widths(self) -> tuple[int, ...]:
        """Number of columns of each block of ``transform_blocks``."""
        check_is_fitted(self, "word_tfidf_")
        if self.min_df is None:
            widths = (self.word_features, self.char_features)
        else:
            widths = (len(self.word_vocabulary_), len(self.char_vocabulary_))
        return (*widths, len(self.signal_names_)) if self.signal_names_ else widths

    def _analyzer(self) -> Callable[[str], list[str]]:
        # for unigrams scikit-learn's analyzer is the token pattern's findall behind three calls
        unigrams = tuple(self.word_ngram_range) == (1, 1)
        return _WORD_TOKENS.findall if unigrams else self.word_hasher_.build_analyzer()

    def _word_hashes(self, normalized: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows, signed = word_hashes(normalized, self._analyzer())
        return rows, (signed & 0xFFFFFFFF).astype(np.uint64)

    def _counts(self, normalized: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        if self.min_df is None:
            word = word_counts(normalized, self._analyzer(), self.word_features)
            char = char_ngram_counts(normalized, self.char_ngram_range, self.char_features)
            return word, char
        n = len(normalized)
        word_rows, words, char_rows, chars = self._hashes(normalized)
        word = self.word_vocabulary_.counts(word_rows, words, n)
        return word, self.char_vocabulary_.counts(char_rows, chars, n)

    def _hashes(
        self, normalized: list[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows and hashes of every word and character n-gram; with ``quoted_apart``, those of
        quoted spans (``split_quotes``) in hash spaces of their own."""
        if not getattr(self, "quoted_apart", False):
            word_rows, words = self._word_hashes(normalized)
            return (word_rows, words, *char_ngram_hashes(normalized, self.char_ngram_range))
        pairs = [split_quotes(text) for text in normalized]
        outside = [frame for frame, _ in pairs]
        holding = [i for i, (_, quoted) in enumerate(pairs) if quoted]
        word_rows, words = self._word_hashes(outside)
        char_rows, chars = char_ngram_hashes(outside, self.char_ngram_range)
        if not holding:
            return word_rows, words, char_rows, chars
        quoted = [pairs[i][1] for i in holding]
        rows_of = np.asarray(holding, dtype=np.int64)
        q_word_rows, q_words = self._word_hashes(quoted)
        q_char_rows, q_chars = char_ngram_hashes(quoted, self.char_ngram_range)
        q_chars = q_chars * _QUOTED_MIX
        q_chars ^= q_chars >> _SHIFT
        return (
            np.concatenate((word_rows, rows_of[q_word_rows])),
            np.concatenate((words, q_words | _QUOTED_WORD)),
            np.concatenate((char_rows, rows_of[q_char_rows])),
            np.concatenate((chars, q_chars)),
        )

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
