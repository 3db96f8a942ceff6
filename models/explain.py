"""Which words moved a message's score: each word left out in turn and the message scored again.

For a moderator deciding a review or an appeal, and for whoever looks for a kind of false flag:
"hope your mum feels better soon" was reviewed as hate (0.92), and leaving "your" out took it to
0.39. Leaving a word out asks the served model itself (normalizer, features, the any-harm
blend), so the figure is what the model does, not an approximation of its weights; it costs one
batch of as many texts as the message has words, so it belongs to tooling (``chatguard classify
--explain``), never to the stream.

Effects are in log-odds of the score, not in the score itself: a phishing message at 0.9999
stays above 0.999 whichever one word is left out, and its words would all show +0.00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

import numpy as np

from models.scorer import Scorer

# a Chinese, Japanese or Korean character is a word of its own; a run of letters (with
# apostrophes inside: "don't") or of digits is one; any other visible character (an emoji, a
# punctuation mark, a symbol standing in for a letter) is one too
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORDS = re.compile(rf"[{_CJK}]|[^\W\d_{_CJK}]+(?:'[^\W\d_]+)*|\d+|\S")
# words explained per message: a long post is scored this many times more, not once per word
MAX_WORDS = 128
# a smaller change shows as +0.00: not worth naming
MIN_EFFECT = 0.005
# scores are clipped this far from 0 and 1 before their log-odds are taken
_EDGE = 1e-6


@dataclass(frozen=True)
class WordEffect:
    """``effect``: the log-odds of the category's score with the word minus without it."""

    word: str
    effect: float


def word_effects(
    scorer: Scorer, text: str, category: int, max_words: int = MAX_WORDS
) -> list[WordEffect]:
    """The effect of each of the first ``max_words`` words of ``text`` on column ``category``
    of ``scorer``'s scores, in the order the words appear."""
    spans = [match.span() for match in islice(_WORDS.finditer(text), max_words)]
    if not spans:
        return []
    scores = scorer.score([text, *(text[:start] + text[end:] for start, end in spans)])
    odds = _log_odds(np.asarray(scores, dtype=np.float64)[:, category])
    return [
        WordEffect(text[start:end], float(odds[0] - without))
        for (start, end), without in zip(spans, odds[1:], strict=True)
    ]


def _log_odds(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(scores, _EDGE, 1.0 - _EDGE)
    return np.log(clipped / (1.0 - clipped))


def strongest(effects: list[WordEffect], count: int = 5) -> list[WordEffect]:
    """The ``count`` words that raised the score most (by ``MIN_EFFECT`` at least), strongest
    first."""
    raising = [e for e in effects if e.effect >= MIN_EFFECT]
    return sorted(raising, key=lambda e: -e.effect)[:count]
