"""The dev sets stay independent of the training data: no seed or corpus line is a near copy of
a row of the dev set, the blind dev set or the chat-style set, so their figures are not a score on
training text."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVSET = sorted((ROOT / "benchmarks" / "devset").glob("*.jsonl"))
BLIND = sorted((ROOT / "benchmarks" / "devset_blind").glob("*.jsonl"))
BLIND_2 = sorted((ROOT / "benchmarks" / "devset_blind_2").glob("*.jsonl"))
BLIND_3 = sorted((ROOT / "benchmarks" / "devset_blind_3").glob("*.jsonl"))
BLIND_4 = sorted((ROOT / "benchmarks" / "devset_blind_4").glob("*.jsonl"))
BLIND_5 = sorted((ROOT / "benchmarks" / "devset_blind_5").glob("*.jsonl"))
BLIND_6 = sorted((ROOT / "benchmarks" / "devset_blind_6").glob("*.jsonl"))
BLIND_7 = sorted((ROOT / "benchmarks" / "devset_blind_7").glob("*.jsonl"))
BLIND_8 = sorted((ROOT / "benchmarks" / "devset_blind_8").glob("*.jsonl"))
BLIND_9 = sorted((ROOT / "benchmarks" / "devset_blind_9").glob("*.jsonl"))
BLIND_10 = sorted((ROOT / "benchmarks" / "devset_blind_10").glob("*.jsonl"))
BLIND_11 = sorted((ROOT / "benchmarks" / "devset_blind_11").glob("*.jsonl"))
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


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("dev set", DEVSET),
        ("blind dev set", BLIND),
        ("second blind set", BLIND_2),
        ("third blind set", BLIND_3),
        ("fourth blind set", BLIND_4),
        ("fifth blind set", BLIND_5),
        ("sixth blind set", BLIND_6),
        ("seventh blind set", BLIND_7),
        ("eighth blind set", BLIND_8),
        ("ninth blind set", BLIND_9),
        ("tenth blind set", BLIND_10),
        ("eleventh blind set", BLIND_11),
        ("chat-style set", CHAT_STYLE),
    ],
)
def test_no_training_line_is_a_near_copy_of_a_dev_set_row(name: str, paths: list[Path]) -> None:
    dev = _texts(paths)
    dev_grams = [_trigrams(t) for t in dev]
    holding: dict[str, list[int]] = defaultdict(list)
    for i, grams in enumerate(dev_grams):
        for gram in grams:
            holding[gram].append(i)
    copies = []
    for text in _texts(TRAINING):
        grams = _trigrams(text)
        shared: dict[int, int] = defaultdict(int)
        for gram in grams:
            for i in holding.get(gram, ()):
                shared[i] += 1
        for i, count in shared.items():
            if count / len(grams | dev_grams[i]) >= NEAR_COPY:
                copies.append((text, dev[i]))
    assert len(dev) > 400, name  # the files are there
    assert not copies, copies[:5]
