"""``models.explain``: a word's effect is what it adds to the log-odds of a score, found by scoring
the message without it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from scipy.special import expit

from models.explain import WordEffect, strongest, word_effects


class CountingScorer:
    """A linear model on the log-odds scale: "scam" is -2, plus 3 per "code" and 1 per "验";
    "ok" is the rest."""

    labels = ("scam", "ok")

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def score(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        scam = expit(np.array([-2.0 + 3 * t.count("code") + t.count("验") for t in texts]))
        return np.column_stack([scam, 1.0 - scam])


def test_each_word_is_scored_once_without_it_in_one_batch() -> None:
    scorer = CountingScorer()
    effects = word_effects(scorer, "read me the code pls", category=0)
    assert [e.word for e in effects] == ["read", "me", "the", "code", "pls"]
    assert [e.effect for e in effects] == pytest.approx([0, 0, 0, 3, 0])
    assert len(scorer.batches) == 1 and scorer.batches[0][4] == "read me the  pls"
    # the other column: leaving "code" out raises "ok", so its effect there is negative
    assert word_effects(scorer, "read me the code pls", category=1)[3].effect == pytest.approx(-3)


def test_a_word_counts_even_when_the_score_is_near_certain() -> None:
    """0.99995, and 0.99909 without one "code": on the scores' own scale every word would show
    +0.00; on the log-odds scale each shows what it adds."""
    effects = word_effects(CountingScorer(), "code code code code", category=0)
    assert [e.effect for e in effects] == pytest.approx([3, 3, 3, 3])


def test_chinese_characters_are_words_of_their_own_and_so_is_an_emoji() -> None:
    effects = word_effects(CountingScorer(), "把验证码念一下🙏 don't", category=0)
    assert [e.word for e in effects] == ["把", "验", "证", "码", "念", "一", "下", "🙏", "don't"]
    assert [e.word for e in effects if abs(e.effect) > 1e-9] == ["验"]


def test_a_long_message_is_explained_up_to_the_limit_and_an_empty_one_not_at_all() -> None:
    scorer = CountingScorer()
    assert len(word_effects(scorer, " ".join(["code"] * 500), category=0, max_words=20)) == 20
    assert len(scorer.batches[0]) == 21
    assert word_effects(scorer, "   ", category=0) == []


def test_strongest_names_only_words_that_raised_the_score_strongest_first() -> None:
    effects = [WordEffect("a", 0.1), WordEffect("b", -0.4), WordEffect("c", 0.3)]
    effects.append(WordEffect("d", 0.001))  # shows as +0.00
    assert [e.word for e in strongest(effects)] == ["c", "a"]
    assert [e.word for e in strongest(effects, count=1)] == ["c"]
