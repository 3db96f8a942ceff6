"""The obfuscation benchmark's rewrites change a message, and the normalizer folds back every one
it claims to undo (the benchmark itself is not a test)."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from models.normalize import is_english_word, normalize
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
    # one or two letters doubled ("aa", "xxoo") may be words of their own: they stay
    "every letter doubled",
    # the friendly sentence stays: it is text, and the model weighs the message whole
    "friendly sentence before",
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


# Letters spaced one by one, or words run together, lose where the words ended: "y o u a r e a" is "you are a" or "you
# area", and the splitter takes the cut whose words are likelier one by one in the corpus, which
# a few more lines with "area" can tip. Undone means the same letters cut into known words.
CUT_AGAIN = {"every letter spaced", "no spaces"}


def test_the_normalizer_undoes_every_rewrite_it_claims_to(bench: ModuleType) -> None:
    undone_differently = {}
    for name, rewrite in bench.obfuscations().items():
        if name in PARTLY:
            continue
        text = CHINESE if name.startswith("Chinese") else ENGLISH
        got, wanted = _words(normalize(rewrite(text))), _words(normalize(text))
        if name in CUT_AGAIN:
            undone = "".join(got) == "".join(wanted) and all(map(is_english_word, got))
        else:
            undone = got == wanted
        if not undone:
            undone_differently[name] = got
    assert undone_differently == {}


def test_spaced_letters_are_cut_into_words_not_left_apart() -> None:
    """The loose check above still fails when letters stay spaced or join into one blob."""
    spaced = " ".join("claimyourfreeprizenow")
    assert _words(normalize(spaced)) == ["claim", "your", "free", "prize", "now"]
    assert _words(normalize(" ".join("youareaworthlessloser")))[-2:] == ["worthless", "loser"]
