"""The normalizer's shortcuts (the ASCII path, the gates that skip a step) change nothing: on any
text, ``analyse`` equals running every step of the pipeline unconditionally, as written below.

A step added to ``models.normalize._analyse`` must be added to ``_every_step`` too.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import models.normalize as n

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = [
    *sorted((ROOT / "training" / "seed").glob("*.jsonl")),
    *sorted((ROOT / "training" / "corpus").glob("*.jsonl")),
    *sorted((ROOT / "benchmarks" / "devset").glob("*.jsonl")),
    *sorted((ROOT / "devtools" / "samples").glob("*.jsonl")),
]


def _every_step(text: str) -> tuple[str, tuple[float, ...]]:
    """The pipeline with no shortcut: every step on every text."""
    text = text.encode("utf-8", "replace").decode("utf-8") if n._has_surrogates(text) else text
    if len(text) > n._MARK_SORT_FROM_CHARS and not text.isascii():
        marks = n._MARK_RUN_ANY_PLANE if n._BEYOND_PLANE_0.search(text) else n._MARK_RUN
        text = marks.sub(n._canonical_order, text)
    text = text.translate(n.ENCLOSED_LETTERS)
    text = n._OVERRIDDEN.sub(n._as_displayed, text)
    folded = unicodedata.normalize("NFKC", text)
    folded = n._turned_upright(folded)
    folded = n._LOOKALIKE_WORD.sub(n._fold_lookalike_word, folded)
    folded = folded.translate(n._FOLD_TABLE).casefold()
    folded = n._CJK_STOPPED.sub(n._without_full_stops, folded)
    folded = n._CJK_FILLED.sub(n._without_filler, folded)
    folded = n._CJK_GAP.sub("", folded)
    folded = n._CJK_SYMBOL_SPACED.sub(n._join_symbol_spaced, folded)
    folded = n._SPACED.sub(n._join_spaced, folded)
    folded = n._SYMBOL_SPACED.sub(n._join_symbol_spaced, folded)
    folded = n._LOOSE_UNDERSCORE.sub(" ", folded)
    folded = n._EMAIL.sub(f" {n.EMAIL_TOKEN} ", folded)
    folded = n._CHINESE_DOT.sub(".", folded)
    folded = n._URL.sub(n._url_token, folded)
    folded = n._CONTACT.sub(n._contact_token, folded)
    folded = n._MONEY.sub(n._money_token, folded)
    folded = n._PHONE.sub(n._phone_token, folded)
    folded = n._HANDLE.sub(f" {n.HANDLE_TOKEN} ", folded)
    folded = n._INNER_SYMBOL.sub(n._letter_for_symbol, folded)
    folded = n._CUT_WORD.sub(n._rejoin, folded)
    folded = n._WORD.sub(n._unleet, folded)
    folded = n._DOUBLED_WORD.sub(n._halved, folded)
    folded = n._LETTER_WORD.sub(n._unstretch, folded)
    folded = n._REPEAT.sub(r"\1\1", folded)
    folded = n._join_split_words(folded)
    folded = n._RUN_TOGETHER.sub(n._split_run_together, folded)
    folded = n._TEXTSPEAK_WORD.sub(n._written_out, folded)
    folded = n._LOOSE_SPACE.sub("", folded)
    folded = re.sub(r"\s+", " ", folded).strip()
    length = len(folded)
    denominator = max(length, 1)
    digits = sum(folded.count(d) for d in "0123456789")
    return folded, (
        *(float(folded.count(token)) for token in n._TOKENS),
        digits / denominator,
        math.log1p(length),
        len(n._CJK_CHARS.findall(folded)) / denominator,
    )


def _bundled_texts() -> list[str]:
    texts = []
    for path in BUNDLED:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else None
            if isinstance(row, dict) and isinstance(row.get("text"), str):
                texts.append(row["text"])
    return texts


def test_every_bundled_text_normalizes_as_without_shortcuts() -> None:
    texts = _bundled_texts()
    assert len(texts) > 5_000
    differ = [t for t in texts if n.analyse(t) != _every_step(t)]
    assert differ == []


# characters every step and every gate cares about, mixed with any character at all
_INTERESTING = (
    "abcxz0134579$ .-_*·•|/\\~+,，、:;!?%@ 加微信领红包日结点。号群扣扣元块万"
    "\x00\x1c\x1f\x7f\x85\xa0\u2028\u3000\t\n\u200b\ufeff\u00ad\u0301\u0316\ufe0f"
    "аеорсαοｆｒＡ１ᴀı★→💰😀①ﬁ²ｶﾞİẞ𝐟\ud800"
    "!€\u202e\u202cé🅵🅕⒡🇫яƒ"
    "ᗩᑕค๒ꓮᎪ₦Дɐǝɹʇʎqpu\u0e48"
)
_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(_INTERESTING), st.characters(codec=None)), max_size=120
)
_BAIT = st.sampled_from(
    ["http://a.top/x", "www.b.cn", "x@y.com", "@bob", "vx abc123", "1,000元", "13812345678", "fr33"]
)


@given(_TEXT)
@example("A)A)A")  # letters split by one symbol: a step the reference once lacked
@example("ʎǝuoɯ ǝǝɹɟ ᑭᗩYᑭᗩᒪ ค\u0e48")  # turned text and look-alike words
def test_any_text_normalizes_as_without_shortcuts(text: str) -> None:
    assert n.analyse(text) == _every_step(text)


@given(st.lists(st.one_of(_TEXT, _BAIT), max_size=6).map(" ".join))
def test_any_text_with_bait_normalizes_as_without_shortcuts(text: str) -> None:
    assert n.analyse(text) == _every_step(text)


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=120))
def test_any_ascii_text_normalizes_as_without_shortcuts(text: str) -> None:
    assert n.analyse(text) == _every_step(text)


@pytest.mark.parametrize(
    "text",
    [
        "f r e e  m o n e y",
        "y o u a r e a l o s e r",
        "yooouuu aaarrreee freeeee heeelllooo " + "a" * 300,
        "y0u 4r3 4 l053r w0r7hl355 5g 1st",
        "mon.ey cl-ick h_ere b*tch b**ch x*****y " + "a*" * 200,
        "y.o.u a.r.e",
        "加。微。信 好的。明天见。加。微。信息",
        "\u202eyenom eerf\u202c n!gg@s",
        "加 微 信",
        "加\u2028微\u2029信",
        "送 100 % ，",
        "a\x1cb\x1fc",
        "ＦＲＥＥ  ｍｏｎｅｙ ！",
        "\ud800 lone " + "x" * 300,
        "e\u0301" * 200 + "\u0316\u0301" * 40,
        "",
    ],
)
def test_chosen_texts_normalize_as_without_shortcuts(text: str) -> None:
    assert n.analyse(text) == _every_step(text)
