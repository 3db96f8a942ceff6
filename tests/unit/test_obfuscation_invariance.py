"""Obfuscated variants of a message score within 0.05 of the plain message, for every category,
with the default model trained from the seed corpus.

The variants are generated from each plain message by one transformation at a time (full-width
forms, zero-width characters, Latin → Cyrillic/Greek look-alikes, letters or characters spaced
out, every letter of the message spaced or dotted, boxed letters, an accent on every letter, the
text stored reversed behind a right-to-left override), so the table stays readable and every row
is checked against the same plain text.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from models.registry import ModelRegistry

TOLERANCE = 0.05

PLAIN = [
    "Your account is locked, verify now at http://secure-bank.top",
    "Congratulations you won a free iPhone, claim your prize today",
    "Hot singles near you, escort service available tonight",
    "Thanks for dinner last night, see you soon",
    "澳门葡京线上赌场，首充送100%，天天返水",
    "兼职刷单，日结工资，加微信 abc888 了解",
    "明天下午三点开会，记得带电脑",
]

_HOMOGLYPHS = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"})


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def zero_width(text: str) -> str:
    return "\u200b".join(text[:12]) + "\u200d" + text[12:]


def homoglyphs(text: str) -> str:
    return text.translate(_HOMOGLYPHS)


def spaced(text: str) -> str:
    """Space out the letters of the longest ASCII word, or every Chinese character of the text."""
    words = text.split()
    ascii_words = [w for w in words if w.isascii() and w.isalpha()]
    if ascii_words:
        target = max(ascii_words, key=len)
        return text.replace(target, " ".join(target), 1)
    return " ".join(text)


def _letters(text: str, letter: Callable[[str], str]) -> str:
    return "".join(letter(c) if c.isascii() and c.isalpha() else c for c in text)


def boxed(text: str) -> str:
    """Negative squared capitals: 🅵🆁🅴🅴."""
    return _letters(text, lambda c: chr(0x1F170 + ord(c.lower()) - ord("a")))


def accented(text: str) -> str:
    """A combining acute accent on every Latin letter."""
    return _letters(text, lambda c: c + "\u0301")


def every_letter_spaced(text: str) -> str:
    """Every Latin word spelled out with single spaces, the words run together: "f r e e m o n e y"
    (a link stays as it is)."""
    words = [w.strip(",") for w in text.split()]
    if not all(w.isascii() for w in words):
        return text
    return " ".join(" ".join(w.lower()) if w.isalpha() else w for w in words)


def every_letter_dotted(text: str) -> str:
    """Every Latin word's letters split by dots, the words by spaces: "f.r.e.e m.o.n.e.y"."""
    return " ".join(".".join(w) if w.isascii() and w.isalpha() else w for w in text.split())


def right_to_left(text: str) -> str:
    """Stored reversed behind RIGHT-TO-LEFT OVERRIDE, so it reads as the plain text."""
    return "\u202e" + text[::-1] + "\u202c"


VARIANTS: dict[str, Callable[[str], str]] = {
    "fullwidth": fullwidth,
    "zero_width": zero_width,
    "homoglyphs": homoglyphs,
    "spaced": spaced,
    "boxed": boxed,
    "accented": accented,
    "every_letter_spaced": every_letter_spaced,
    "every_letter_dotted": every_letter_dotted,
    "right_to_left": right_to_left,
}
# only the transformations that change a message (Chinese text has no Latin letters to swap)
CASES = [(plain, name) for plain in PLAIN for name, f in VARIANTS.items() if f(plain) != plain]


@pytest.fixture(scope="module")
def plain_scores(default_model_registry: ModelRegistry) -> dict[str, np.ndarray]:
    scores = default_model_registry.load_current().score(PLAIN)
    return dict(zip(PLAIN, scores, strict=True))


@pytest.mark.parametrize(("plain", "variant"), CASES, ids=[f"{v}:{p[:16]}" for p, v in CASES])
def test_variant_scores_like_the_plain_message(
    default_model_registry: ModelRegistry,
    plain_scores: dict[str, np.ndarray],
    plain: str,
    variant: str,
) -> None:
    text = VARIANTS[variant](plain)
    model = default_model_registry.load_current()
    scores = model.score([text])[0]
    gaps = {
        label: round(float(abs(a - b)), 3)
        for label, a, b in zip(model.labels, scores, plain_scores[plain], strict=True)
    }
    assert max(gaps.values()) <= TOLERANCE, f"{text!r}: {gaps}"
