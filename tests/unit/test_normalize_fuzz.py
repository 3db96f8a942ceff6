"""Hostile input for the normalizer: it never raises, strips what it promises to strip, and
stays linear in the length of its input (no catastrophic regex backtracking).

Normalization is not idempotent and is not meant to be: joining spaced letters or collapsing
repeats can create a new run for the next pass ("a aaa-a"), and serving only ever folds once.
"""

from __future__ import annotations

import statistics
import time
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.normalize import SIGNAL_NAMES, analyse, normalize

_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=400))
def test_any_text_normalizes_without_raising(text: str) -> None:
    folded, signals = analyse(text)
    assert isinstance(folded, str)
    assert len(signals) == len(SIGNAL_NAMES)
    assert not any(c in _INVISIBLE for c in folded)
    assert not any(unicodedata.category(c) == "Cc" for c in folded)
    assert folded == folded.strip()


@given(st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=50))
def test_lone_surrogates_are_dropped(text: str) -> None:
    folded = normalize("a" + text + "b")
    folded.encode("utf-8")  # would raise on a surrogate left in the output


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decoded_with_replacement(raw: bytes) -> None:
    assert isinstance(normalize(raw.decode("utf-8", "replace")), str)


@pytest.mark.parametrize("size", [1_000_000, 2_000_000])
def test_huge_inputs_finish(size: int) -> None:
    # CPU time of this process: on a busy CI runner wall-clock time also counts other processes
    start = time.process_time()
    normalize("a" * size)
    normalize("免费" * (size // 2))
    assert time.process_time() - start < 20  # generous: typically well under a second


def _median_time(function: Callable[[str], object], text: str, runs: int = 3) -> float:
    # CPU time of this process, as below: other processes on a busy machine don't count
    times = []
    for _ in range(runs):
        start = time.process_time()
        function(text)
        times.append(time.process_time() - start)
    return statistics.median(times)


ADVERSARIAL: dict[str, str] = {
    "spaced_letters": "a " * 50_000,
    "digits": "1" * 100_000,
    "schemes": "http://" * 15_000,
    "ats": "@" * 100_000,
    "spaced_digits": "1 " * 50_000,
    "dashed_digits": "1-" * 50_000,
    "dotted_letters": "a." * 50_000,
    "spaced_chinese": "加 " * 50_000,
    "money_commas": "$1," * 35_000,
    "contact_cues": "加微信 " * 25_000,
    "email_like": "a.b+c-" * 17_000,
    "domain_like": "abc.abc." * 12_500,
    "repeats": "aaab" * 25_000,
    "lookalike_words": "ᗩᗷ " * 33_000,
    "lookalike_run_then_other_letter": "ᗩ" * 99_999 + "ы",
    "turned_letters": "ɐ " * 50_000,
    # "丶" is a Chinese character and a separator between them: a gap started after each one
    "chinese_dot_run": "丶" * 50_000,
    "commas_and_chinese_dots": ",丶" * 25_000,
    # "๒" (a Thai two) writes a b, and a digit is no letter to stop the look-alike word before it
    "lookalike_digits_between_chinese": "加" + "๒" * 50_000 + "信",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_input_stays_linear(name: str) -> None:
    text = ADVERSARIAL[name]
    plain = ("the quick brown fox jumps over the lazy dog 天天开心 " * (len(text) // 48 + 1))[
        : len(text)
    ]
    baseline = max(_median_time(normalize, plain), 1e-3)
    adversarial = _median_time(normalize, text)
    assert adversarial < 20 * baseline, f"{name}: {adversarial:.3f}s vs {baseline:.3f}s plain"
