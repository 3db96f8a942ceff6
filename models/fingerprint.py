"""Near-duplicate fingerprints of normalized texts: MinHash over character shingles, cut into LSH
bands. Pure numpy, no Kafka.

A spammer sends one offer in many light variants ("加V信 a8k9" / "加 薇 信 a8k9 🎁" / "+V: a8k9").
The normalizer already undoes most of the variation (spacing, look-alikes, emoji, IDs and amounts
become placeholders), so the variants' normalized texts differ in a few characters, and their sets
of character 3-shingles overlap heavily. MinHash estimates that overlap (Jaccard similarity) with
``HASHES`` minimums; LSH groups them into ``BANDS`` bands of ``ROWS`` rows, and two texts *share
a band* when all rows of one band agree, which happens with probability ``1 - (1 - J**ROWS) **
BANDS``: with 8 bands of 4 rows, 0.99 at J = 0.8, 0.89 at J = 0.7, 0.40 at J = 0.5 and 0.01 at
J = 0.2. A campaign is counted per band key (``streams.campaigns``), so variants of one text meet
in the bands they share while unrelated chat almost never does; 32 hashes keep the cost per
message low (``benchmarks/fingerprints.py``), and more rows per band would split a varied
campaign into too many keys, fewer would let unrelated texts collide.

Deterministic across processes and machines: shingles are hashed from their code points with
fixed constants (Python's ``hash()`` is salted per process), and the MinHash functions come from
a fixed seed. Texts too short or too uninformative (``MIN_CHARS`` characters, ``MIN_SHINGLES``
distinct shingles: "ok", "哈哈哈") get no fingerprint and never form campaigns; nor do common clean
phrases (``common_phrases.txt``, reviewed by hand: "happy birthday to you!", "新年快乐，万事如意！")
and their near-duplicates (texts sharing an LSH band with one): :func:`is_common`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from models.normalize import normalize

SHINGLE = 3
HASHES = 32
BANDS = 8
ROWS = HASHES // BANDS
MIN_CHARS = 16  # of the normalized text, spaces not counted
MIN_SHINGLES = 12  # distinct shingles
MAX_CHARS = 2_000  # a longer text is fingerprinted by its start: the cost stays bounded
COMMON_PHRASES = Path(__file__).with_name("common_phrases.txt")

_U64 = np.uint64
_U32 = np.uint32
_SEED = 0x5EED_C4A7_6A2D
_rng = np.random.default_rng(_SEED)
# multiply-add permutations of 32-bit shingle hashes (odd multipliers are bijections mod 2**32);
# 32 bits halve the memory traffic of the (HASHES x shingles) step, which dominates the cost
_A = (_rng.integers(1, 2**32, size=HASHES, dtype=np.uint64) | _U64(1)).astype(np.uint32)
_B = _rng.integers(0, 2**32, size=HASHES, dtype=np.uint64).astype(np.uint32)
# per-position multipliers of a shingle's code points, and per-row multipliers of a band
_POSITION = _rng.integers(1, 2**63, size=SHINGLE, dtype=np.uint64) | _U64(1)
_ROW = _rng.integers(1, 2**63, size=ROWS, dtype=np.uint64) | _U64(1)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit moves every output bit (wrapping uint64)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def signatures(normalized: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of normalized texts, in one pass over the batch: a ``(n, HASHES)``
    uint32 array, and which rows are fingerprinted (the others are too short or too uniform;
    their rows are zero)."""
    n = len(normalized)
    sigs = np.zeros((n, HASHES), dtype=np.uint32)
    ok = np.zeros(n, dtype=bool)
    texts = [" ".join(text[:MAX_CHARS].split()) for text in normalized]
    long_enough = [i for i, text in enumerate(texts) if len(text) - text.count(" ") >= MIN_CHARS]
    if not long_enough:
        return sigs, ok
    chosen = [texts[i] for i in long_enough]
    lengths = np.array([len(text) for text in chosen], dtype=np.int64)
    points = np.frombuffer("".join(chosen).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    # a shingle starts at every position whose SHINGLE characters lie in one text
    starts = np.cumsum(lengths) - lengths
    counts = lengths - SHINGLE + 1
    owner = np.repeat(np.arange(len(chosen), dtype=np.uint64), counts)
    at = np.arange(counts.sum()) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
    shingles = points[at] * _POSITION[0]
    for j in range(1, SHINGLE):
        shingles = shingles + points[at + j] * _POSITION[j]
    # one sort of (text, shingle hash) gives each text's distinct shingles, in text order
    keyed = np.sort((owner << _U64(32)) | (_mix(shingles) >> _U64(32)))
    keyed = keyed[np.concatenate(([True], keyed[1:] != keyed[:-1]))]
    owners = (keyed >> _U64(32)).astype(np.int64)
    hashes = (keyed & _U64(0xFFFFFFFF)).astype(np.uint32)
    distinct = np.bincount(owners, minlength=len(chosen))
    # the minimum of each permutation over each text's distinct shingles
    permuted = _A[:, None] * hashes[None, :] + _B[:, None]
    first = np.cumsum(distinct) - distinct
    minimums = np.minimum.reduceat(permuted, first, axis=1).T
    rows = np.asarray(long_enough)
    informative = distinct >= MIN_SHINGLES
    sigs[rows[informative]] = minimums[informative]
    ok[rows[informative]] = True
    return sigs, ok


def band_keys(normalized: Sequence[str]) -> list[tuple[str, ...]]:
    """The LSH band keys of each text (``BANDS`` of them, 16 hex digits, the first the band's
    index), or ``()`` for a text that gets no fingerprint (too short, too uniform, or a common
    clean phrase). Equal keys: the texts agree on that band."""
    common = _common()[1]
    return [
        () if not keys or common.intersection(keys) else keys for keys in _band_keys(normalized)
    ]


def phrase_key(normalized: str) -> str:
    """A normalized text's letters and digits, case folded: "Happy birthday!!" and "happy
    birthday" have one key."""
    return "".join(c for c in normalized.casefold() if c.isalnum())


def is_common(normalized: str) -> bool:
    """Whether a normalized text is one of the common clean phrases (``COMMON_PHRASES``), up to
    case, spacing, punctuation and emoji. Cheap: for every message of the sender count
    (``models.senders``); :func:`band_keys` also leaves out their near-duplicates."""
    return phrase_key(normalized) in _common()[0]


def preload() -> None:
    """Read the common phrases now rather than at first use (a worker starting up: at first
    use, with its file descriptors taken, the read failed a whole batch)."""
    _common()


@cache
def _common() -> tuple[frozenset[str], frozenset[str]]:
    """The common phrases' keys and the band keys of those long enough to be fingerprinted."""
    # normalized as served texts are
    lines = COMMON_PHRASES.read_text(encoding="utf-8").splitlines()
    phrases = [normalize(p.strip()) for p in lines if p.strip() and not p.startswith("#")]
    bands = {key for keys in _band_keys(phrases) for key in keys}
    return frozenset(phrase_key(p) for p in phrases), frozenset(bands)


def _band_keys(normalized: Sequence[str]) -> list[tuple[str, ...]]:
    """:func:`band_keys` before common phrases are left out."""
    sigs, ok = signatures(normalized)
    if not ok.any():
        return [() for _ in normalized]
    rows = sigs.astype(np.uint64).reshape(len(normalized), BANDS, ROWS) * _ROW[None, None, :]
    folded = _mix(np.bitwise_xor.reduce(_mix(rows), axis=2)) >> _U64(4)
    folded |= np.arange(BANDS, dtype=np.uint64)[None, :] << _U64(60)  # first digit: the band
    # one hex conversion for the whole batch, cut into 16-digit keys in C
    digits = folded.astype(">u8").tobytes().hex().encode()
    keys: list[str] = np.frombuffer(digits, dtype="S16").astype("U16").tolist()
    return [
        tuple(keys[i * BANDS : (i + 1) * BANDS]) if fingerprinted else ()
        for i, fingerprinted in enumerate(ok.tolist())
    ]
