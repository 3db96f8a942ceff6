"""Misspelled copies of the chat rows, so the model learns words it will see misspelled.

Abusers misspell the words a filter looks for ("verfication", "acocunt", "ur accnt is
blockd"). The normalizer undoes what a reader undoes at a glance (spacing, look-alikes, leetspeak,
stretched letters), but a misspelling changes the character n-grams the model scores, and only
training text that holds misspellings teaches it to read through them: on the dev set, swapping
two letters of every longer English word took a model trained without copies from 89% to 57% of
the harmful English rows flagged (docs/measurements.md, Quality).

Each row that a person labelled completely (the seed and the chat corpus, not the public sets) gets
one copy in which every English word of four letters or more is changed, with probability
``WORD_RATE``, by one edit: two neighbouring inner letters swapped, an inner letter dropped or
doubled, or a vowel changed. Clean rows get copies as well as harmful ones, so a misspelling is
not itself taken for a sign of harm. The edits are seeded by the text, so a recipe trains on the
same rows every run.

A copy keeps its original's labels and kind and names it in ``copy_of``: training groups the two
together (``training.train``), so they always fall in the same fold and an out-of-fold score is
never that of a row whose twin was trained on. Copies only train: a test split never scores one,
and the clean-traffic budget that sets the thresholds is a share of the rows people wrote.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable
from dataclasses import replace

from training.labelled_data import LabelledRow

WORD_RATE = 0.25  # the share of longer English words a copy changes
_LONGER_WORD = re.compile(r"[A-Za-z]{4,}")
_VOWELS = "aeiou"


def misspelled_copies(rows: Iterable[LabelledRow]) -> list[LabelledRow]:
    """One misspelled copy of each completely labelled row whose English words it changes."""
    copies = []
    for row in rows:
        if not row.complete or row.copy_of is not None:
            continue
        text = misspell(row.text)
        if text != row.text:
            copies.append(replace(row, text=text, copy_of=row.text))
    return copies


def misspell(text: str, rate: float = WORD_RATE) -> str:
    """``text`` with each English word of four letters or more changed by one edit with
    probability ``rate``; the same text always gets the same edits."""
    rng = random.Random(zlib.crc32(text.encode("utf-8", "surrogatepass")))

    def edit(match: re.Match[str]) -> str:
        word = match.group(0)
        if rng.random() >= rate:
            return word
        kind = rng.randrange(4)
        i = rng.randrange(1, len(word) - 2)  # an inner position with an inner letter after it
        if kind == 0:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if kind == 1:
            return word[:i] + word[i + 1 :]
        if kind == 2:
            return word[:i] + word[i] + word[i:]
        vowels = [k for k in range(1, len(word) - 1) if word[k].lower() in _VOWELS]
        if not vowels:
            return word[:i] + word[i + 1 :]
        k = rng.choice(vowels)
        other = rng.choice([v for v in _VOWELS if v != word[k].lower()])
        return word[:k] + other + word[k + 1 :]

    return _LONGER_WORD.sub(edit, text)
