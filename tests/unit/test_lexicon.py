"""The shipped English word list is the one the corpus makes (``python -m training.lexicon``)."""

from __future__ import annotations

from models.normalize import ENGLISH_WORDS
from training.lexicon import render, word_counts


def test_the_shipped_word_list_is_the_corpus_words() -> None:
    counts = word_counts()
    assert {"you", "are", "a", "loser", "kill", "yourself"} <= set(counts)
    assert "urltoken" not in counts
    assert ENGLISH_WORDS.read_text(encoding="utf-8") == render(counts), (
        "models/english_words.txt is stale: run `python -m training.lexicon`"
    )
