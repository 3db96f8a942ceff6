"""The dev sets stay independent of the training data: no seed or corpus line is a near copy of
a row of the dev set, the blind dev set or the chat-style set, so their figures are not a score on
training text."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVSET = sorted((ROOT / "benchmarks" / "devset").glob("*.jsonl"))
BLIND = sorted((ROOT / "benchmarks" / "devset_blind").glob("*.jsonl"))
# the later blind sets, each in its folder ``devset_blind_N``, in the order they were written
NUMBERED_BLIND = sorted(
    (ROOT / "benchmarks").glob("devset_blind_*"),
    key=lambda folder: int(folder.name.removeprefix("devset_blind_")),
)
CHAT_STYLE = sorted((ROOT / "benchmarks" / "devset_chat_style").glob("*.jsonl"))
CORPUS = sorted((ROOT / "training" / "corpus").glob("*.jsonl"))
TRAINING = [ROOT / "training" / "seed" / "seed_corpus.jsonl", *CORPUS]
# character 3-gram Jaccard at or above which two lines count as one text reworded; the closest
# pair today is a four-word reply ("这也太卷了" / "这也太卷了吧", 0.75)
NEAR_COPY = 0.8


def _texts(paths: list[Path]) -> list[str]:
    return [
        json.loads(line)["text"]
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _trigrams(text: str) -> frozenset[str]:
    letters = re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())
    return frozenset(letters[i : i + 3] for i in range(max(1, len(letters) - 2)))


@cache
def _training() -> tuple[list[str], list[frozenset[str]], Counter[str]]:
    texts = _texts(TRAINING)
    grams = [_trigrams(t) for t in texts]
    return texts, grams, Counter(g for line in grams for g in line)


def _prefix(grams: frozenset[str], frequency: Counter[str]) -> list[str]:
    """The rarest grams of a line, as many as two lines at ``NEAR_COPY`` or closer must share at
    least one of (prefix filtering: with every line's grams in one order, a pair whose Jaccard is
    at least t shares a gram among each one's first n - ceil(t * n) + 1). Comparing only lines
    that share one made this test 60 times faster than comparing every pair that shares any."""
    ordered = sorted(grams, key=lambda gram: (frequency[gram], gram))
    return ordered[: len(grams) - math.ceil(NEAR_COPY * len(grams)) + 1]


def near_copies(dev: Sequence[str]) -> list[tuple[str, str]]:
    """(training line, dev row) pairs at ``NEAR_COPY`` or closer."""
    texts, training_grams, frequency = _training()
    dev_grams = [_trigrams(t) for t in dev]
    holding: dict[str, list[int]] = defaultdict(list)
    for i, grams in enumerate(dev_grams):
        for gram in _prefix(grams, frequency):
            holding[gram].append(i)
    copies = []
    for text, grams in zip(texts, training_grams, strict=True):
        candidates = {i for gram in _prefix(grams, frequency) for i in holding.get(gram, ())}
        for i in candidates:
            if len(grams & dev_grams[i]) / len(grams | dev_grams[i]) >= NEAR_COPY:
                copies.append((text, dev[i]))
    return copies


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("dev set", DEVSET),
        ("blind dev set", BLIND),
        *(
            (f"blind set {f.name.removeprefix('devset_blind_')}", sorted(f.glob("*.jsonl")))
            for f in NUMBERED_BLIND
        ),
        ("chat-style set", CHAT_STYLE),
    ],
)
def test_no_training_line_is_a_near_copy_of_a_dev_set_row(name: str, paths: list[Path]) -> None:
    dev = _texts(paths)
    copies = near_copies(dev)
    assert len(dev) > 400, name  # the files are there
    assert not copies, copies[:5]


def test_a_reworded_training_line_is_found() -> None:
    """The filter misses no pair: training lines with a word changed or added are found."""
    texts = _training()[0]
    picked = texts[::997]
    reworded = [t + "!!" for t in picked] + [t.replace(t[: len(t) // 12], "", 1) for t in picked]
    found = {dev for _, dev in near_copies(reworded)}
    expected = {
        dev
        for dev in reworded
        if any(
            len(_trigrams(dev) & _trigrams(t)) / len(_trigrams(dev) | _trigrams(t)) >= NEAR_COPY
            for t in picked
        )
    }
    assert len(expected) > 20 and expected <= found
