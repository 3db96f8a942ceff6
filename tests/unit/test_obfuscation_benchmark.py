"""The obfuscation benchmark's rewrites change a message, and the normalizer folds back every one
it claims to undo (the benchmark itself is not a test)."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from models.normalize import normalize
from tests.benchmark_scripts import load_benchmark

ENGLISH = "you are a worthless loser, claim your free prize now"
CHINESE = "加微信领红包，兼职刷单日结"
# what the normalizer does not undo, or undoes only in part (the benchmark measures how much):
# a lone "4" stays ("4 u"), and misspellings are the model's to learn
PARTLY = {
    "plain",
    "leetspeak",
    "two middle letters swapped",
    "vowels dropped",
}


def _words(text: str) -> list[str]:
    """The words, without the punctuation a rewrite may move or split."""
    return re.findall(r"[^\W_]+", text)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("obfuscation")


def test_every_rewrite_changes_text_it_applies_to(bench: ModuleType) -> None:
    for name, rewrite in bench.obfuscations().items():
        if name == "plain":
            continue
        text = CHINESE if name.startswith("Chinese") else ENGLISH
        assert rewrite(text) != text, name


def test_the_normalizer_undoes_every_rewrite_it_claims_to(bench: ModuleType) -> None:
    undone_differently = {}
    for name, rewrite in bench.obfuscations().items():
        if name in PARTLY:
            continue
        text = CHINESE if name.startswith("Chinese") else ENGLISH
        got = _words(normalize(rewrite(text)))
        if got != _words(normalize(text)):
            undone_differently[name] = got
    assert undone_differently == {}
