"""Contacts written to slip past a filter, written back: ``evil-pay[.]top``, ``evil-pay dot top``,
``еvil-pay.top`` (a Cyrillic е), ``evil-pay%2Etop``, ``e v i l - p a y . t o p``,
``O77OO 9OO 123`` (letters for digits), ``加 微 信`` and ``薇❤信`` (the cue split apart).

A spammer's contact is what he is paid for, so he writes it in a form a reader still follows and a
pattern does not. ``models.rules.extract_contacts`` searches the text :func:`reveal` returns
(after NFKC, case folding and invisible characters; ``models.rules``), and phone numbers in the
text :func:`digits_view` returns. Of the 46 forms of a domain, a phone number and a WeChat ID in
``tests/unit/test_contact_folding.py``, the search before this module found 7; it finds all.
Every pattern here is linear: each whitespace run is entered only from its first character (a
20,000-space run is scanned once, not 20,000 times).

A dot that could be a sentence's ("the dot com bubble", "polka dot top", "ok . my bus") is read
as a domain's only after a label that is no common English word and has a letter, and before a
TLD spam uses (:func:`loosened`); a host found only that way is matched against the lists but
never taught to the learned list nor counted as a campaign's token: three accounts writing
"polka dot top" taught ``polka.top``, and innocent messages about a polka dot top were blocked.
A dot with a space after it only ("ok. my bus") is a sentence's.

Phone numbers are compared as a *key*, :func:`phone_key`: the last ten digits without leading
zeros, so ``+44 7700 900123``, ``0044 7700 900123`` and ``07700 900123`` are one number, as are
``+86 138 1234 5678`` and ``13812345678``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList

from models.normalize import CJK, ENCLOSED_LETTERS, HOMOGLYPHS, TLDS, is_english_word


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # ICANN and private sections, read once (about 40 ms)


@lru_cache(maxsize=65_536)  # a spam wave repeats its hosts: 1.6 µs a look-up, 0.1 µs cached
def is_public_suffix(host: str) -> bool:
    """``co.uk``, ``com.cn``, ``github.io``: a name under which strangers register theirs."""
    return bool(_suffixes().is_public(host))


@lru_cache(maxsize=65_536)
def has_known_suffix(host: str) -> bool:
    """``host`` ends in a suffix of the Public Suffix List: ``index.html``, ``i.ll`` ("i.ll be
    late") and ``x.xx`` are no domains, though they look like one."""
    return _suffixes().publicsuffix(host, accept_unknown=False) is not None


def _look_alikes() -> dict[int, str]:
    """Other scripts' look-alike letters and accented Latin letters → the bare Latin letter:
    ``еvil-pay.top`` with a Cyrillic е was read as the host ``vil-pay.top``."""
    table = {ord(k): v for k, v in HOMOGLYPHS.items()}
    for cp in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFD", chr(cp))[0]
        if base != chr(cp) and base.isascii() and base.isalpha():
            table[cp] = base.lower()
    return table


_LOOK_ALIKES = _look_alikes()
_ANY_LOOK_ALIKE = re.compile("[" + re.escape("".join(map(chr, _LOOK_ALIKES))) + "]")
# a run of spaces, entered only at its first one
_SPACES = r"\s(?<!\s\s)\s*+"
# "[.]", "(.)", "{dot}", "<.>": a dot no sentence writes
_BRACKETED_DOT = re.compile(rf"(?:{_SPACES})?[(\[{{<【「]\s*+(?:\.|dot)\s*+[)\]}}>】」]\s*+")
# a dot with spaces before it (and maybe after), the word "dot", or a middle dot, between a label
# and a top-level domain; the label decides (``_loose_dot``)
_LOOSE_DOT = re.compile(
    r"(?<![a-z0-9\-])([a-z0-9\-]{2,63}+)(\s++dot\s++|\s++\.\s*+|\s*+[·•‧∙⋅・]\s*+)([a-z]{2,24})"
    r"(?![a-z0-9\-])"
)
_LOOSE_DOT_GATE = re.compile(r"\s\.|dot|[·•‧∙⋅・]")
_BRACKET = re.compile(r"[(\[{<【「]")
_INNER_BANG = re.compile(r"(?<=[a-z])!(?=[a-z])")  # "ev!l-pay.top"
# three or more single letters, digits or hyphens split by one space each; a dot between them
# stays spaced, for ``loosened`` to judge ("t h e . e n d" is no host)
_SPACED_OUT = re.compile(r"(?<![^\W_])[a-z0-9\-](?: [a-z0-9\-](?![^\W_])){2,}")
# a run of text without spaces that has an ASCII letter, or a lone letter (spaced out): where
# look-alikes hide
_MIXED_RUN = re.compile(r"(?<!\S)(?:[^\sa-z]*+[a-z]\S*+|\S(?!\S))")
# spaces and symbols between two Chinese characters ("加 微 信", "薇❤信")
_CJK_GAP = re.compile(rf"(?<=[{CJK}])[^\w{CJK}]++(?=[{CJK}])")
# a word of digits and the letters that stand for them ("9OO", "O77OO"), with one digit at least
_DIGIT_LIKE = re.compile(r"(?<![a-z0-9])(?=[oli]*+\d)[0-9oli]++(?![a-z0-9])")
_AS_DIGITS = str.maketrans({"o": "0", "l": "1", "i": "1"})
# a phone number's length of Chinese numerals ("七七零零九零零一二三")
_CHINESE_NUMERALS = re.compile(r"[零〇一二三四五六七八九]{7,}+")
_CHINESE_DIGITS = str.maketrans("零〇一二三四五六七八九", "00123456789")
_COUNTING = "一二三四五六七八九"  # counting, not a number


def _loose_dot(match: re.Match[str]) -> str:
    label, tld = match[1], match[3]
    if tld not in TLDS or not any(c.isalpha() for c in label) or is_english_word(label.strip("-")):
        return match[0]  # "the dot com bubble", "3.11 . io", "polka dot dress": not hosts
    return f"{label}.{tld}"


def reveal(folded: str) -> str:
    """``folded`` (NFKC, case-folded, no invisible characters, "点" and "。" as dots) with its
    contacts written back the plain way where nothing else could be meant; the rest of the text
    may change too, so only contacts are searched in it."""
    text = folded
    if not text.isascii():
        # look-alikes only where they hide among Latin letters: a word all in Cyrillic or Greek
        # ("СТО.КОМ") is no host spelled in disguise
        if _ANY_LOOK_ALIKE.search(text):
            text = _MIXED_RUN.sub(lambda m: m[0].translate(_LOOK_ALIKES), text)
        text = _CJK_GAP.sub("", text.translate(ENCLOSED_LETTERS))
    if "%2e" in text:
        text = text.replace("%2e", ".")
    if "!" in text:
        text = _INNER_BANG.sub("i", text)
    if _BRACKET.search(text):
        text = _BRACKETED_DOT.sub(".", text)
    if " " in text:
        text = _SPACED_OUT.sub(lambda m: m[0].replace(" ", ""), text)
    return text


def loosened(revealed: str) -> str:
    """``revealed`` with dots spelled out or spaced read as a domain's ("evil-pay dot top",
    "evil-pay . top", "evil-pay·top"), where a sentence could also mean them: only after a
    label that is no common English word and has a letter, and before a TLD spam uses. Hosts
    found only so are matched, never learned (``models.rules.Contacts.loose_hosts``)."""
    return _LOOSE_DOT.sub(_loose_dot, revealed) if _LOOSE_DOT_GATE.search(revealed) else revealed


def digits_view(revealed: str) -> str:
    """``revealed`` with letters written for digits inside digit words read as digits
    ("07700 9OO 123" → "07700 900 123"), and runs of seven Chinese numerals or more as digits.
    For phone numbers only: a host may hold those letters."""
    text = _DIGIT_LIKE.sub(lambda m: m[0].translate(_AS_DIGITS), revealed)
    if not text.isascii():
        text = _CHINESE_NUMERALS.sub(_numerals_as_digits, text)
    return text


def _numerals_as_digits(match: re.Match[str]) -> str:
    run = match[0]
    return run if run in _COUNTING else run.translate(_CHINESE_DIGITS)  # "一二三四五六七八九"


PHONE_KEY_DIGITS = 10


def phone_key(digits: str) -> str:
    """One key for a number written nationally or internationally: its last ten digits,
    without the leading zeros of a trunk or international prefix."""
    return digits.lstrip("0")[-PHONE_KEY_DIGITS:]
