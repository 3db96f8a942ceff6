"""The English word list that splits spaced-out messages back into words (``models/english_words.txt``).

``y o u a r e s u c h a l o s e r`` joins to ``youaresuchaloser``; the normalizer splits that
into the words a reader sees only when every piece is a word of this list. The list is the words of the project's
own seed and chat corpus with how often each occurs, so it is reviewed with the corpus and holds
no public set's text. Regenerate after changing the corpus:

    python -m training.lexicon

``tests/unit/test_lexicon.py`` fails when the shipped list and the corpus disagree.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from models.normalize import ENGLISH_WORDS, normalize, placeholder_words, reload_words

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("training/seed/*.jsonl", "training/corpus/*.jsonl")
HEADER = (
    "# English words of the seed and chat corpus, with how often each occurs; made by\n"
    "# `python -m training.lexicon`, read by models/normalize.py to split spaced-out words.\n"
)
_LETTERS = re.compile(r"[a-z]+")
# Words of one or two letters are where a cut goes wrong ("h t t p" is not "ht tp"), and the
# corpus holds many that are no words ("cz", "fp"): only these real ones are kept.
SHORT_WORDS = frozenset((
    "a", "i", "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "if", "in", "is", "it",
    "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up", "us", "we", "ur", "ya",
))  # fmt: skip
MIN_COUNT = 2
# a three-letter run seen twice is as often an abbreviation or a place (GRA in Lagos addresses) as
# a word, and a rare short word cuts spaced-out bait in two: "v i a g r a" read "via gra"
MIN_COUNT_THREE_LETTERS = 3


def word_counts(root: Path = ROOT) -> Counter[str]:
    """Every lower-case letter run of the normalized corpus texts seen at least ``MIN_COUNT``
    times (a typo is no word; three letters ``MIN_COUNT_THREE_LETTERS``), placeholders left out,
    and of the shorter ones only ``SHORT_WORDS``."""
    counts: Counter[str] = Counter()
    skip = set(placeholder_words())
    for pattern in SOURCES:
        for path in sorted(root.glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    counts.update(_LETTERS.findall(normalize(json.loads(line)["text"])))
    return Counter(
        {
            w: n
            for w, n in counts.items()
            if w not in skip
            and n >= (MIN_COUNT_THREE_LETTERS if len(w) == 3 else MIN_COUNT)
            and (len(w) > 2 or w in SHORT_WORDS)
        }
    )


def render(counts: Counter[str]) -> str:
    """The file's text: most frequent first, then alphabetical."""
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return HEADER + "".join(f"{word} {count}\n" for word, count in rows)


def main() -> int:
    """Write the list, again until it no longer changes: the normalizer reads the list it
    counts with (a stretched "looooser" becomes "loser" only once "loser" is on it)."""
    for _ in range(5):
        text = render(word_counts())
        if ENGLISH_WORDS.is_file() and ENGLISH_WORDS.read_text(encoding="utf-8") == text:
            break
        ENGLISH_WORDS.write_text(text, encoding="utf-8")
        reload_words()
    print(f"wrote {ENGLISH_WORDS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
