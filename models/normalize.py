"""Text normalization that undoes obfuscation, shared by training and serving.

Abusers write ``ｆｒｅｅ``, ``f r e e``, ``frее`` (Cyrillic е), ``fr33``, ``加★微★信`` or put
zero-width characters inside words so that the same message looks new to a filter. ``normalize``
folds all of these back to one form, and replaces bait (links, phone numbers, money amounts,
@handles, QQ/WeChat IDs) with placeholder words, so the classifier learns "a message with a link to
a .top domain" instead of memorizing one link.

Every step is a ``str.translate`` table or a regular expression that is linear in the length of the
text: Python's ``re`` backtracks, so no pattern may split one run of characters between two
quantifiers (two optional runs of spaces side by side), and a pattern that can start anywhere inside a long run must
consume or refuse the run in one attempt. Possessive quantifiers (``*+``, ``++``) give up nothing
once they have matched, which is how most patterns below keep that promise.
``tests/unit/test_hostile_input.py`` bounds the cost on long runs of every character the patterns
care about, around every bait word.
Traditional Chinese is read as simplified, one character at a time (OpenCC's character table, not
its phrase tables): 賭場 and 赌场 are one word to the model, whichever script a sender uses.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import itertools
import math
import re
import string
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

URL_TOKEN = "urltoken"
PHONE_TOKEN = "phonetoken"
MONEY_TOKEN = "moneytoken"
HANDLE_TOKEN = "handletoken"
CONTACT_TOKEN = "contacttoken"
EMAIL_TOKEN = "emailtoken"

ENGLISH_WORDS = Path(__file__).with_name("english_words.txt")
STARRED_WORDS = Path(__file__).with_name("starred_words.txt")

SIGNAL_NAMES: tuple[str, ...] = (
    "url_count",
    "phone_count",
    "money_count",
    "handle_count",
    "contact_count",
    "email_count",
    "digit_share",
    "log_length",
    "cjk_share",
)


# -- character tables ----------------------------------------------------------------------------
def _code_ranges(*ranges: tuple[int, int]) -> list[int]:
    return [cp for lo, hi in ranges for cp in range(lo, hi + 1)]


# Invisible characters: zero-width, bidi controls, soft hyphen, variation selectors, tags, and the
# combining marks used for "Zalgo" text. They carry no meaning a reader sees, so they go. With
# the blanks below, these are Unicode's default-ignorable code points, which a renderer draws as
# nothing even where it has no font for them (and even before they are assigned): one of the
# shorthand or musical format controls after every letter took 72% of harmful sample and blind
# dev-set rows from flagged to allow, against 92.5%, while the reader saw the same text.
# Egyptian hieroglyphs' format controls (not default-ignorable, but drawn as nothing between
# letters by a font that has them) did the same.
INVISIBLE = _code_ranges(
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFF0, 0xFFFB),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
    (0xE0000, 0xE0FFF),
)
# Hangul fillers are default-ignorable too, but drawn as a blank as wide as a letter: written
# for the spaces of a message, they joined its words into one, and half of the harmful rows
# above written so were allowed (50%, against 92%). They are spaces here.
BLANKS = _code_ranges((0x115F, 0x1160), (0x3164, 0x3164), (0xFFA0, 0xFFA0))
# Controls become spaces (a newline separates words); DEL and C1 controls likewise.
_CONTROLS = _code_ranges((0x00, 0x1F), (0x7F, 0x9F))
# Symbols, arrows, shapes, dingbats and emoji are used as separators ("加★微★信", "free💰money").
_SYMBOLS = _code_ranges(
    (0x2190, 0x2BFF),
    (0x2500, 0x25FF),
    (0x3000, 0x3000),
    (0x1F000, 0x1FAFF),
)

# Look-alike letters from other scripts, folded to the Latin letter they imitate.
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic lower and upper case
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ɡ": "g", "һ": "h", "ӏ": "l", "ո": "n", "ս": "u", "ց": "g", "օ": "o",
    "А": "a", "В": "b", "Е": "e", "Ё": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p",
    "С": "c", "Т": "t", "У": "y", "Х": "x", "Ѕ": "s", "І": "i", "Ї": "i", "Ј": "j", "Ԁ": "d",
    # Greek lower and upper case
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "c", "ϲ": "c", "Ϲ": "c", "ϳ": "j",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    # Latin small capitals and other look-alikes NFKC leaves alone
    "ꜰ": "f", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
    "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ı": "i", "ȷ": "j", "ɑ": "a",
    # "faux Cyrillic" and Greek letters used for the Latin letter they resemble ("ƒяєє мσηєу")
    "ƒ": "f", "я": "r", "Я": "r", "є": "e", "Є": "e", "σ": "o", "ѵ": "v", "ɛ": "e", "ɾ": "r",
}  # fmt: skip

# Latin letters with diacritics ("ḟŕéé", or a combining accent NFKC composed onto each letter)
# fold to the bare letter, like the look-alikes above: a reader sees the word, so does the model.
_ACCENTED: dict[str, str] = {
    ch: base
    for ch, base in (
        (chr(cp), unicodedata.normalize("NFD", chr(cp))[0])
        for cp in _code_ranges((0x00C0, 0x024F), (0x1E00, 0x1EFF))
    )
    if ch != base and base.isascii() and base.isalpha()
}

# Letters in boxes and circles that NFKC does not unbox (it does ⓐ and 🄰), and the regional
# indicators that spell flags: "🅵🆁🅴🅴", "🅕🅡🅔🅔", "🇫🇷🇪🇪". Parenthesized letters too, which
# NFKC would turn into "(f)(r)(e)(e)". Applied before NFKC; the symbol ranges would make them spaces.
ENCLOSED_LETTERS: dict[int, str] = {
    first + i: chr(ord("a") + i)
    for first in (0x249C, 0x1F110, 0x1F150, 0x1F170, 0x1F1E6)
    for i in range(26)
}


# Upside-down text ("ʎǝuoɯ ǝǝɹɟ" is "free money"): turned letters, written last letter first so that
# it reads upright on a phone turned over. Ordinary letters stand for their turned twins there.
_TURNED_LETTERS = {
    "ɐ": "a", "q": "b", "ɔ": "c", "p": "d", "ǝ": "e", "ɟ": "f", "ƃ": "g", "ɥ": "h", "ᴉ": "i",
    "ɾ": "j", "ʞ": "k", "ꞁ": "l", "ɯ": "m", "u": "n", "d": "p", "b": "q", "ɹ": "r", "ʇ": "t",
    "n": "u", "ʌ": "v", "ʍ": "w", "ʎ": "y", "∀": "a", "Ɔ": "c", "Ǝ": "e", "Ⅎ": "f", "⅁": "g",
    "˥": "l", "W": "m", "Ԁ": "p", "ᴚ": "r", "⊥": "t", "∩": "u", "Λ": "v", "M": "w", "⅄": "y",
    "¡": "!", "¿": "?", "˙": ".", "'": ",", ",": "'", "6": "9", "9": "6",
}  # fmt: skip
_TURNED_TABLE = str.maketrans(_TURNED_LETTERS)
# letters only turned text writes (not ``ɯ``, which the "hooks" style writes for w)
_TURNED_ONLY = re.compile("[ɐɔǝɟƃɥᴉʞɹʇʌʍʎ∀ƆƎℲ⅁ᴚ⊥⅄]")
_FEWEST_TURNED = 3

LOOKALIKE_ALPHABETS = Path(__file__).with_name("lookalike_alphabets.txt")


def _lookalike_letters() -> dict[str, str]:
    """Each character of ``lookalike_alphabets.txt``, as NFKC leaves it → the Latin letter it
    stands for; the first listed wins, and the fold table's own folds stay. Only the case listed:
    "Д" imitates an A, but "д" is no a (in "д k 不看" it stands for the d of 贷款)."""
    folded_already = HOMOGLYPHS.keys() | _ACCENTED.keys()
    letters: dict[str, str] = {}
    for line in LOOKALIKE_ALPHABETS.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        _style, _, alphabet = line.partition("\t")
        for latin, written in zip(string.ascii_lowercase, alphabet, strict=True):
            form = unicodedata.normalize("NFKC", written)
            if len(form) == 1 and not form.isascii() and form not in folded_already:
                letters.setdefault(form, latin)
    return letters


_LOOKALIKES = _lookalike_letters()
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKES)
_LOOKALIKE_GATE = re.compile(f"[{re.escape(''.join(_LOOKALIKES))}]")


def _decorated_latin_letters() -> dict[str, str]:
    """Latin letters with a hook, stroke, bar, tail or belt ("ɓƈɗ", "ƀȼđ"), which NFD does not
    take apart as it does accents, → the letter Unicode names them after ("LATIN SMALL LETTER
    B WITH HOOK"), unless a look-alike alphabet lists them for another letter (ɬ writes a t)."""
    named = re.compile(
        r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL |DOTLESS )?([A-Z])(?: WITH .+)?"
    )
    folded_already = HOMOGLYPHS.keys() | _ACCENTED.keys() | _LOOKALIKES.keys()
    blocks = (
        (0x00C0, 0x02AF),
        (0x1D00, 0x1DBF),
        (0x2C60, 0x2C7F),
        (0xA720, 0xA7FF),
        (0xAB30, 0xAB6F),
    )
    letters = {}
    for ch in map(chr, _code_ranges(*blocks)):
        letter = named.fullmatch(unicodedata.name(ch, ""))
        if letter and ch not in folded_already and unicodedata.normalize("NFKC", ch) == ch:
            letters[ch] = letter.group(1).lower()
    return letters


_DECORATED = _decorated_latin_letters()
# a run of look-alikes, other letters the fold table folds and Latin letters, between non-letters,
# tried only from the run's start: some look-alikes are digits ("๒", a Thai two, writes a b), and
# started after each of 20,000, the run was read to its end each time (0.8 s a message)
_LOOKALIKE_CLASS = (
    "["
    + re.escape(
        "".join(
            sorted(_LOOKALIKES.keys() | HOMOGLYPHS.keys() | _ACCENTED.keys() | _DECORATED.keys())
        )
    )
    + "a-zA-Z]"
)
_LOOKALIKE_WORD = re.compile(
    rf"(?<![^\W\d_])(?<!{_LOOKALIKE_CLASS}){_LOOKALIKE_CLASS}++(?![^\W\d_])"
)


def _traditional_to_simplified() -> dict[int, int | str | None]:
    """Each traditional character of OpenCC's ``TSCharacters.txt`` → its first simplified form."""
    table = importlib.resources.files("opencc") / "dictionary" / "TSCharacters.txt"
    mapping: dict[int, int | str | None] = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        traditional, _, simplified = line.partition("\t")
        if len(traditional) == 1 and simplified.split():
            mapping[ord(traditional)] = simplified.split()[0]
    return mapping


_FOLD_TABLE = _traditional_to_simplified()
_FOLD_TABLE.update({cp: None for cp in INVISIBLE})
_FOLD_TABLE.update({cp: " " for cp in _CONTROLS})
_FOLD_TABLE.update({cp: " " for cp in BLANKS})
_FOLD_TABLE.update({cp: " " for cp in _SYMBOLS})
_FOLD_TABLE.update({ord(k): v for k, v in HOMOGLYPHS.items()})
_FOLD_TABLE.update({ord(k): v for k, v in _ACCENTED.items()})
_FOLD_TABLE.update({ord(k): v for k, v in _DECORATED.items()})

# Leetspeak, applied only inside words that mix letters with these characters.
_LEET_TABLE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s"})

# -- patterns (each linear: no nested quantifiers, tokens anchored at their start) --------------
# the ranges of Chinese characters, for the patterns here and in the contact search
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Top-level domains a link hides behind. Those that are also English words start sentences:
# "paid the rent. So…" or "ok. My bus…" is not a link, so a word domain needs its dot unspaced
# ("pay.so"), spaced on both sides ("pay . so", an obfuscation) or a path after it ("pay. so/x").
_CODE_TLDS = "com|cn|net|org|vip|xyz|cc|io|tk|ml|ga|ly|hk|tw|uk|ru|biz|icu|pw|ws|jp|kr|sg"
_WORD_TLDS = "top|info|me|co|app|shop|site|online|club|live|link|us|win|bet|fun|so|tv|in|de|my"
_TLDS = f"{_CODE_TLDS}|{_WORD_TLDS}"
TLDS = frozenset(_TLDS.split("|"))  # the top-level domains spam hides its links behind
# spaced-out letters or digits: three or more single characters split by one separator each
_SPACED = re.compile(r"(?<![^\W_])[a-z0-9](?:[ .\-_*·•|/\\~+'`#°‹›‧丶ー][a-z0-9](?![^\W_])){2,}")
_SPACED_SEPARATORS = re.compile(r"[ .\-_*·•|/\\~+'`#°‹›‧丶ー]")
# the same with any one symbol, repeated ("y%o%u%r"): three or more single letters (digits
# split by commas are a list or an amount)
_SYMBOL_SPACED = re.compile(r"(?<![^\W_])[a-z]([^\w\s])[a-z](?![^\W_])(?:\1[a-z](?![^\W_]))+")
# separators between two Chinese characters ("加 微 信", "加-微-信", "加・微・信", "加丶微丶信"):
# Chinese needs no spaces, and commas between characters go too
_CJK_SEPARATORS = r"\s.\-_*·•|/\\~+,，、・‧丶ー"
# (only from a run's first separator: "丶" is a Chinese character too, and started after each of
# 20,000 of them, the run was rescanned to its end each time, 0.4 s a message)
_CJK_GAP = re.compile(rf"(?<=[{CJK}])(?<![{_CJK_SEPARATORS}])[{_CJK_SEPARATORS}]++(?=[{CJK}])")
# any one symbol repeated between single Chinese characters ("加'微'信'领", "加"微"信"领"), as for
# letters; a word in quotes ("开"偷井盖"的玩笑", quoted to say it is not meant) keeps its quotes
_CJK_SYMBOL_SPACED = re.compile(rf"[{CJK}]([^\w\s])[{CJK}](?:\1[{CJK}]){{2,}}")
# a full stop after every character ("加。微。信"), not between sentences ("好的。明天见")
_CJK_STOPPED = re.compile(rf"(?<![{CJK}])[{CJK}](?:。[{CJK}](?![{CJK}]))" + "{2,}。?")
# the same digit or letter between each of five Chinese characters or more ("加1微1信1领1红"):
# filler, which dates and counts do not repeat so ("3月5日8点", "2021年1月1日1点" stay)
# (the filler first: most positions fail on it at once), and the same filler after the last one
_CJK_FILLED = re.compile(
    rf"([a-z0-9])(?<=[{CJK}][a-z0-9])(?:[{CJK}]\1){{3,}}[{CJK}](?:\1(?![a-z0-9]))?"
)
# spaces Chinese does not use: between a Chinese character and a digit or punctuation, and
# before punctuation anywhere ("送 100 % ，" and "送100%，" must read the same). Each alternative
# takes a whole run of spaces or nothing, and only from the run's first space: started inside a run
# of n spaces, ``\s+(?=…)`` would rescan the rest of the run n times.
_LOOSE_SPACE = re.compile(
    rf"(?<=[{CJK}])\s++(?=[0-9%,.!?;:])|(?<=[0-9%,.!?;:])\s++(?=[{CJK}])|\s(?<!\s\s)\s*+(?=[%,.!?;:])"
)
_EMAIL = re.compile(r"(?<![a-z0-9_.+\-])[a-z0-9_.+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+")
_URL = re.compile(
    rf"(?:(?:https?|hxxps?)\s*+:\s*+/\s*+/\s*+|www\.)[^\s{CJK}]+"
    rf"|(?<![a-z0-9_.\-@])[a-z0-9\-]+(?:\.[a-z0-9\-]+)*"
    rf"(?:\s*+\.\s*+(?:{_CODE_TLDS})|(?:\.|\s++\.\s*+|\.\s++(?=(?:{_WORD_TLDS})/))(?:{_WORD_TLDS}))"
    rf"(?![a-z0-9])(?:/[^\s{CJK}]*)?"
)
_URL_HOST = re.compile(r"^(?:(?:https?|hxxps?)\s*:\s*/\s*/\s*)?(?:www\.)?([^/?#:\s]+)")
# cue, then spaces, an optional 号/群/colon, spaces, an optional colon, spaces, then the ID. Three
# adjacent ``\s*`` could split one run of spaces in n² ways (cubic with the retries); here each run
# of spaces is taken whole, after the cue or after the word or colon that follows it.
_CONTACT = re.compile(
    r"(?<![a-z])(微信|威信|薇信|薇|徽信|v信|vx|wx|weixin|wechat|扣扣|qq群|q群|qq|企鹅|电报|telegram|tg|line|飞机)"
    r"\s*+(?:[号群:：]\s*+)?(?:[:：]\s*+)?([a-z0-9][a-z0-9_\-]{4,19})(?![a-z0-9_\-])"
)
# An amount is digits with thousands commas ("1,000") ending in a digit, then a unit, or a currency
# sign then the digits. A start after a comma ("好的,5元") may begin an amount too, but once the first
# start in a run of digits and commas has failed every later start in that run fails the same way:
# the ``number`` alternative then takes the rest of the run unchanged instead of retrying it from
# each comma (quadratic on "1,1,1,…").
_MONEY = re.compile(
    r"[¥￥$€£]\s?\d(?:,*+\d)*+(?:\.\d+)?(?:\s?[万千kw])?"
    r"|(?<![a-z0-9_.])(?:\d(?:,*+\d)*+(?:\.\d++)?\s?(?:元|块|万元|万|千元|rmb|usd|dollars?|yuan|bucks)(?![a-z])"
    r"|(?P<number>\d[\d,]*+))"
)
_PHONE = re.compile(r"(?<![a-z0-9_+])\+?\d[\d\-\s().]{5,}\d(?!\d)")
_HANDLE = re.compile(r"(?<![a-z0-9_@])@[\w.]{2,}")
_LEET_CANDIDATE = re.compile(r"[a-z][0-9$]|[0-9$][a-z]")
# a symbol standing for a letter inside a word: "n!gg@s", "p@kis", "fr€€", "r3t@rd". Only between
# two letters or digits, so "hi!", "@tom" and e-mails (replaced before) keep their meaning.
_INNER_SYMBOL = re.compile(r"(?<=[a-z0-9])[@!€]++(?=[a-z0-9])")
_INNER_SYMBOL_GATE = re.compile(r"[@!€]")
_SYMBOL_LETTERS = str.maketrans({"@": "a", "!": "i", "€": "e"})
# a word cut by dots, dashes, underscores or stars: "mon.ey", "cl-ick", "b*tch"; one followed
# by a digit is left as it is (``_rejoin``). That test is not a lookahead here: failing at the
# end of a run, the search would start again at each of its words and run to the same end,
# the square of the run's length (".com" * 5,000 + "1": 35x a plain text)
_CUT_WORD = re.compile(r"(?<![a-z0-9])[a-z]++(?:[.\-_*]++[a-z]++)++")
_ALNUM_NEXT = re.compile(r"[a-z0-9]")
_CUT_WORD_GATE = re.compile(r"[.\-_*](?<=[a-z].)\**+[a-z]")  # "f**k": stars may be two
_CUTS = re.compile(r"[.\-_*]+")
_MOST_STARS = 2  # letters starred out of a word of ``starred_words.txt``; one of any other word
_TWO_STARS_FROM_LETTERS = 4  # "f**k": a word shows at least two of its letters
# a listed word with every letter but its first and last starred ("n*****s", "b***h"): one run
# of stars, as long as the letters it hides
_MASKED = re.compile(r"[a-z]\*{3,}[a-z]")
# RIGHT-TO-LEFT OVERRIDE shows the characters after it in reverse order, up to POP DIRECTIONAL
# FORMATTING (or another override or embedding, or the end of the line): "\u202eyenom eerf" reads
# "free money". The model reads what is shown.
_RIGHT_TO_LEFT_OVERRIDE = "\u202e"
_OVERRIDDEN = re.compile("\u202e([^\u202a-\u202e\n]*+)")
_WORD = re.compile(r"(?<![a-z0-9$])[a-z0-9$]+")
# an underscore not between two letters or digits ("hi,_need_help" has two, "mm_8866" none), or
# before a phone-length run of digits that ends the word ("call_13812345678" hid the number)
_LOOSE_UNDERSCORE = re.compile(r"(?<![a-z0-9])_|_(?![a-z0-9])|_(?=\d{7,}(?![a-z0-9_]))")
_REPEAT = re.compile(r"(.)\1{2,}")
# every letter written twice ("ffrreeee mmoonneeyy"): a word of three pairs or more and nothing
# else (two pairs are left alone: "xxoo" is slang of its own)
_DOUBLED_WORD = re.compile(r"(?<![a-z0-9])(?:([a-z])\1){3,}+(?![a-z0-9])")
# a Latin letter three times or more in a row ("freeeee", "yooouuu"), and the words holding one
_LETTER_RUN = re.compile(r"([a-z])\1{2,}")
_LETTER_WORD = re.compile(r"[a-z]+")
_SAME_LETTERS = re.compile(r"([a-z])\1*")
_MOST_STRETCHES = 3
_LETTERS_ONLY = re.compile(r"(?<![a-z0-9'])[a-z]++(?![a-z0-9'])")
_SHORTEST_JOINED = 4
# a run of letters long enough to be words written without spaces ("addmywechatforfreemoney");
# longer runs are left alone (the split costs the run's length times the longest word's)
_RUN_TOGETHER = re.compile(r"(?<![a-z0-9'])[a-z]{8,64}+(?![a-z0-9'])")
# a split that reads as words: pieces of 3 letters on average, never two short ones in a row
# ("combination" is no "com bin at i on")
_RUN_PIECE_LETTERS = 3.0
_RUN_PIECE_COST = 2.0  # added per piece: fewer, longer words win over many short ones
# punctuation other than the apostrophe ("don't" is one word) is a word boundary: "mon ey." splits
_PUNCTUATION = string.punctuation.replace("'", "")
_LATIN_WORDS = re.compile(r"[a-z']+")
_LETTER_SPACE_LETTER = re.compile(r"[a-z] [a-z]")
_ASCII_PUNCTUATION_TO_SPACE = bytes.maketrans(_PUNCTUATION.encode(), b" " * len(_PUNCTUATION))


def normalize(text: str) -> str:
    """Fold ``text`` to the form the classifier sees (see the module docstring)."""
    return analyse(text)[0]


def signals(text: str) -> tuple[float, ...]:
    """Numeric signals of ``text``, in the order of ``SIGNAL_NAMES``."""
    return analyse(text)[1]


# One text per step at least: a change to what a step does changes ``fingerprint``.
_FINGERPRINT_PROBES = (
    "ＦＲＥＥ ｍｏｎｅｙ", "frее mоney", "fr\u200bee mo\u200dney", "f r e e m o n e y n o w",
    "f.r.e.e c*a*s*h", "fr33 m0n3y l053r", "n!gg@s", "mon.ey cl-ick h_ere k*ll b*tch",
    "yooouuu soooo", "send me mon ey. fr ee gift", "hows ur throat now? r u ok pls thx",
    "evri - u k, h r _ amy, u盘 r18", "🅵🆁🅴🅴 ⓜⓞⓝⓔⓨ", "\u202eyenom eerf", "賭場 發財",
    "加 微 信。领。红。包", "加★微★信 abc123", "vx: abc123 qq 12345678", "www.evil.top/x pay.so ok. so",
    "call +1 336 555 6110 or 13912345678", "win $500 ￥88 500元", "@tom a@b.com", "哈哈哈哈哈 !!!!",
    "paid the rent. So tired", "black people are a plague", "sh*t n*gg*rs f**k g*eat",
    "ᑭᗩYᑭᗩᒪ ค๒ς ₳฿₵ ₦500 ครับ", "ʎǝuoɯ ǝǝɹɟ", "free\u3164mo\U0001d173ney",
    "ffrreeee_mmoonneeyy xxoo hi,_ping_@tom", "addmywechatforfreemoney",
)  # fmt: skip


@functools.cache
def fingerprint() -> str:
    """What this normalizer does, in 16 hex digits: a hash of its output on probes that exercise
    every step, and of its word list. A model records the one it was trained with; a worker
    serving a model trained under another says so (``streams.model_holder``), since the model
    then reads texts otherwise than it learned them. A change the probes miss goes unseen."""
    digest = hashlib.sha256(ENGLISH_WORDS.read_bytes())
    digest.update(STARRED_WORDS.read_bytes())
    digest.update(LOOKALIKE_ALPHABETS.read_bytes())
    for text in _FINGERPRINT_PROBES:
        normalized, signal_values = _analyse(text)
        digest.update(f"{normalized}\x00{signal_values}\x00".encode())
    return digest.hexdigest()[:16]


def content_length(text: str, normalized: str | None = None) -> int:
    """Letters and CJK characters of the normalized text outside the placeholders: how much a
    message says beyond its bait (a bare phone number says nothing). ``normalized``, if given,
    is ``normalize(text)`` already computed (scoring's)."""
    if normalized is None:
        normalized = normalize(text)
    words = [word for word in normalized.split() if word not in _TOKENS]
    return sum(ch.isalpha() for word in words for ch in word)


Analysis = tuple[str, tuple[float, ...]]
_memo = threading.local()


@contextlib.contextmanager
def remembered(memo: dict[str, Analysis]) -> Iterator[dict[str, Analysis]]:
    """Within, every ``analyse`` in this thread records its result in ``memo`` (text → result),
    so that the rules read the normalized text the model computed instead of normalizing twice."""
    previous = getattr(_memo, "memo", None)
    _memo.memo = memo
    try:
        yield memo
    finally:
        _memo.memo = previous


def analyse(text: str) -> tuple[str, tuple[float, ...]]:
    """``(normalize(text), signals(text))`` in one pass; the feature pipeline uses both."""
    result = _analyse(text)
    memo = getattr(_memo, "memo", None)
    if memo is not None and isinstance(text, str):
        memo[text] = result
    return result


def _analyse(text: str) -> tuple[str, tuple[float, ...]]:
    if not isinstance(text, str):
        text = str(text)
    # Most steps can only change text holding certain characters; each ``_…_GATE`` below is a
    # cheap search for a necessary condition of its step, so ordinary chat skips most steps.
    # ``tests/unit/test_normalize_shortcuts.py`` checks the result equals running every step.
    if text.isascii():
        # NFKC leaves ASCII as it is, the fold table touches only its control characters, and
        # casefold is lower; Chinese-only steps cannot match.
        folded = (text if text.isprintable() else text.translate(_FOLD_TABLE)).lower()
        folded = _unspaced(folded)
    else:
        folded = _fold_unicode(text)
    if "_" in folded:  # an underscore beside a space, a sign or the text's end separates words
        folded = _LOOSE_UNDERSCORE.sub(" ", folded)
    folded = _replace_bait(folded)
    if _INNER_SYMBOL_GATE.search(folded):
        folded = _INNER_SYMBOL.sub(_letter_for_symbol, folded)
    if _CUT_WORD_GATE.search(folded):
        folded = _CUT_WORD.sub(_rejoin, folded)
    if _LEET_GATE.search(folded) and _LEET_CANDIDATE.search(folded):
        folded = _WORD.sub(_unleet, folded)
    if _DOUBLED_WORD.search(folded):
        folded = _DOUBLED_WORD.sub(_halved, folded)
    if _REPEAT.search(folded):  # most texts repeat nothing three times: skip both steps
        if _LETTER_RUN.search(folded):
            folded = _LETTER_WORD.sub(_unstretch, folded)
        folded = _REPEAT.sub(r"\1\1", folded)
    folded = _join_split_words(folded)
    if _RUN_TOGETHER.search(folded):  # most texts have no long word the list lacks: one search
        folded = _RUN_TOGETHER.sub(_split_run_together, folded)
    folded = _spell_out_textspeak(folded)
    if _LOOSE_SPACE_GATE.search(folded):
        folded = _LOOSE_SPACE.sub("", folded)
    # str.split and re's \s agree on what whitespace is (both use str.isspace)
    folded = " ".join(folded.split())

    # signals read the normalized text, so an obfuscated variant gets the plain message's signals
    counts = [folded.count(token) for token in _TOKENS] if "token" in folded else _NO_TOKENS
    length = len(folded)
    denominator = max(length, 1)
    # an ASCII digit is one byte of UTF-8, and no other character's encoding holds such a byte
    encoded = folded.encode("utf-8")
    digits = len(encoded) - len(encoded.translate(None, _ASCII_DIGITS))
    cjk = 0 if length == len(encoded) else length - len(_CJK_CHARS.sub("", folded))
    signal_values = (
        *(float(c) for c in counts),
        digits / denominator,
        math.log1p(length),
        cjk / denominator,
    )
    return folded, signal_values


# NFKC writes 72 characters as four to eighteen (U+FDFA, an Arabic honorific, as eighteen): 20,000
# of them became 360,000 characters, and the model, the contact search and the fingerprints paid
# for every one (half a second an event). Those characters keep their form's first three, so no
# text grows more than threefold, as any other character allows; the rest of the text is read
# as before, none of it cut off.
MAX_NFKC_GROWTH = 3


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, at most ``MAX_NFKC_GROWTH`` times as long, in time
    linear in the text's length (long runs of combining marks put in order first)."""
    if len(text) > _MARK_SORT_FROM_CHARS:
        marks = _MARK_RUN_ANY_PLANE if _BEYOND_PLANE_0.search(text) else _MARK_RUN
        text = marks.sub(_canonical_order, text)
    folded = unicodedata.normalize("NFKC", text)
    if len(folded) > MAX_NFKC_GROWTH * len(text):
        folded = unicodedata.normalize("NFKC", text.translate(_long_nfkc_forms()))
    return folded


@functools.cache
def _long_nfkc_forms() -> dict[int, str]:
    """Code point → the first ``MAX_NFKC_GROWTH`` characters of its NFKC form, where that is longer."""
    forms = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        form = unicodedata.normalize("NFKC", chr(cp))
        if len(form) > MAX_NFKC_GROWTH:
            forms[cp] = form[:MAX_NFKC_GROWTH]
    return forms


def _fold_unicode(text: str) -> str:
    """NFKC, the fold table, casefold, and the steps for Chinese and spaced letters."""
    # Lone surrogates (from broken UTF-16) cannot be normalized or encoded: drop them first.
    text = text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text
    if _ENCLOSED_GATE.search(text):
        text = text.translate(ENCLOSED_LETTERS)
    if _RIGHT_TO_LEFT_OVERRIDE in text:
        text = _OVERRIDDEN.sub(_as_displayed, text)
    # no gate: the table's traditional characters are scattered over thousands of ranges, and a
    # character class that large costs several times the translation it would skip
    folded = nfkc(text)
    if _TURNED_ONLY.search(folded):
        folded = _turned_upright(folded)
    if _LOOKALIKE_GATE.search(folded):
        folded = _LOOKALIKE_WORD.sub(_fold_lookalike_word, folded)
    folded = folded.translate(_FOLD_TABLE).casefold()
    if "。" in folded:
        folded = _CJK_STOPPED.sub(_without_full_stops, folded)
    folded = _CJK_FILLED.sub(_without_filler, folded)
    if _CJK_GAP_GATE.search(folded):
        folded = _CJK_GAP.sub("", folded)
    if _CJK_SYMBOL_SPACED_GATE.search(folded):
        folded = _CJK_SYMBOL_SPACED.sub(_join_symbol_spaced, folded)
    return _unspaced(folded)


def _turned_upright(text: str) -> str:
    """Upside-down text turned upright: the stretch from the first word with turned letters to the
    last, read as written or back to front, whichever gives more words of the corpus's list
    (font sites do both). Fewer than three turned letters are left to the look-alike fold."""
    turned = [match.start() for match in _TURNED_ONLY.finditer(text)]
    if len(turned) < _FEWEST_TURNED:
        return text
    start = max(text.rfind(space, 0, turned[0]) for space in " \n\t") + 1
    ends = [end for end in (text.find(space, turned[-1]) for space in " \n\t") if end >= 0]
    end = min(ends, default=len(text))
    as_written = text[start:end].translate(_TURNED_TABLE)
    back_to_front = as_written[::-1]
    if _known_words(_unspaced(back_to_front.lower())) > _known_words(_unspaced(as_written.lower())):
        as_written = back_to_front
    return text[:start] + as_written + text[end:]


def _known_words(text: str) -> int:
    costs = _word_costs()
    return sum(word in costs for word in _LETTER_WORD.findall(text.lower()))


def _fold_lookalike_word(match: re.Match[str]) -> str:
    """A word written in look-alike letters ("ᑭᗩYᑭᗩᒪ", "ค๒ς") → the Latin word it imitates. A
    word of real text in those scripts has letters not listed or marks (Thai vowels) next to
    it, and stays; currency signs with no letter ("₦", "₩₩") are money, not a word."""
    word, text = match.group(0), match.string
    start, end = match.span()
    if _is_visible_mark(text, start - 1) or _is_visible_mark(text, end):
        return word
    if not any(ch.isalpha() for ch in word):
        return word
    return word.translate(_LOOKALIKE_TABLE)


def _is_visible_mark(text: str, index: int) -> bool:
    """``text[index]`` is a combining mark the fold table keeps (not Zalgo decoration it drops)."""
    if not 0 <= index < len(text):
        return False
    ch = text[index]
    return unicodedata.category(ch)[0] == "M" and _FOLD_TABLE.get(ord(ch), 0) is not None


def _unspaced(folded: str) -> str:
    """Spaced-out letters joined: split by the usual separators (mixed, "f.r-e.e"), or by any
    one symbol repeated ("y%o%u%r", "b<a<n<k"): an outside probe turned 9 of 9 flagged scams
    into allow with symbols outside the usual set between every character."""
    if _SPACED_GATE.search(folded):
        folded = _SPACED.sub(_join_spaced, folded)
    if _SYMBOL_SPACED_GATE.search(folded):
        folded = _SYMBOL_SPACED.sub(_join_symbol_spaced, folded)
    return folded


def _replace_bait(folded: str) -> str:
    """Placeholder words for e-mails, links, contact IDs, amounts, phone numbers and handles."""
    has_at = "@" in folded
    if has_at:
        folded = _EMAIL.sub(f" {EMAIL_TOKEN} ", folded)
    if "点" in folded or "。" in folded:
        folded = _CHINESE_DOT.sub(".", folded)
    if "." in folded or ":" in folded:
        folded = _URL.sub(_url_token, folded)
    if _ANY_DIGIT_OR_ID.search(folded):
        folded = _CONTACT.sub(_contact_token, folded)
        folded = _MONEY.sub(_money_token, folded)
        folded = _PHONE.sub(_phone_token, folded)
    if has_at:
        folded = _HANDLE.sub(f" {HANDLE_TOKEN} ", folded)
    return folded


# -- helpers -----------------------------------------------------------------------------------------
_ENGLISH_WORD_CUES = frozenset({"line", "tg", "telegram"})
_TOKENS = (URL_TOKEN, PHONE_TOKEN, MONEY_TOKEN, HANDLE_TOKEN, CONTACT_TOKEN, EMAIL_TOKEN)
_CJK_CHARS = re.compile(f"[{CJK}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


_ASCII_DIGITS = b"0123456789"
_NO_TOKENS = [0] * len(_TOKENS)
# Gates: each matches wherever its step could change the text (a necessary condition), and starts
# with a character class of characters rare in chat, which ``re`` scans for in C; the steps' own
# patterns start with look-behinds or alternatives, tried at every position.
_ENCLOSED_GATE = re.compile("[\u249c-\u24b5\U0001f110-\U0001f1ff]")
_CJK_GAP_GATE = re.compile(rf"[{_CJK_SEPARATORS}](?<=[{CJK}].)")
_CJK_SYMBOL_SPACED_GATE = re.compile(rf"[^\w\s](?<=[{CJK}].)[{CJK}][^\w\s]")
_SPACED_GATE = re.compile(
    r"[ .\-_*·•|/\\~+'`#°‹›‧丶ー](?<=[a-z0-9].)[a-z0-9](?![^\W_])[ .\-_*·•|/\\~+'`#°‹›‧丶ー][a-z0-9]"
)
_SYMBOL_SPACED_GATE = re.compile(r"[^\w\s](?<=[a-z].)[a-z](?![^\W_])[^\w\s][a-z]")
_LOOSE_SPACE_GATE = re.compile(rf"\s(?:(?<=[{CJK}]\s)|[%,.!?;:{CJK}])")
_LEET_GATE = re.compile(r"[0-9$]")
# contact IDs may be letters only ("vx abcdef"), so the gate is "a digit, or a contact cue"
_ANY_DIGIT_OR_ID = re.compile(
    r"\d|微信|威信|薇|徽信|v信|vx|wx|weixin|wechat|扣扣|qq|q群|企鹅|电报|telegram|tg|line|飞机"
)
# "abc点com" / "abc。com": the Chinese word or full stop for the dot that hides a domain
_CHINESE_DOT = re.compile(rf"[点。](?=(?:{_TLDS})(?![a-z]))")


# Characters of combining class 0 whose NFKC decomposition is combining marks only (Unicode 14;
# ``tests/unit/test_normalize.py`` checks the list against ``unicodedata``): NFKC puts in order the
# marks they become, so a run of them is as slow as a run of marks ("\u0f73" * 20,000 took 1.3 s,
# and "\u0301\uff9e" * 10,000 0.3 s, when only characters with a class of their own were sorted).
MARKS_WHEN_DECOMPOSED = {
    0x0F73: "\u0f71\u0f72",
    0x0F75: "\u0f71\u0f74",
    0x0F81: "\u0f71\u0f80",
    0xFF9E: "\u3099",
    0xFF9F: "\u309a",
}


def _combining_mark_ranges() -> list[tuple[int, int]]:
    """First and last code point of each range of characters that are, or decompose into, marks
    with a combining class."""
    # Planes 0 and 1 hold every combining mark Unicode has assigned.
    classes = bytearray(map(unicodedata.combining, map(chr, range(0x20000))))
    for cp in MARKS_WHEN_DECOMPOSED:
        classes[cp] = 1
    return [(run.start(), run.end() - 1) for run in re.finditer(b"[^\x00]+", classes)]


def _character_class(ranges: list[tuple[int, int]]) -> str:
    return "[" + "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges) + "]"


# NFKC puts each run of combining marks in canonical order with an insertion sort, quadratic in the
# run's length: 10,000 marks of alternating classes take seconds. A run longer than real text needs
# is sorted first the way NFKC would (decomposed, then stably by combining class), leaving NFKC
# nothing to move; the result is NFKC's own. Done in :func:`nfkc`, so the contact search, which
# drops nonspacing marks but keeps spacing ones ("\u302e" and "\u1b44", 10,000 each: 0.6 s), is
# covered as well as the normalizer. In a text of up to a few hundred characters the worst case
# costs less than looking for it.
_MARK_SORT_FROM_CHARS = 256
# A class of only plane-0 characters compiles to a lookup table, ten times faster than the range
# list the full class needs; the full one is used for texts with characters beyond plane 0.
_MARK_RANGES = _combining_mark_ranges()
_MARK_RUN = re.compile(_character_class([r for r in _MARK_RANGES if r[1] <= 0xFFFF]) + "{16,}+")
_MARK_RUN_ANY_PLANE = re.compile(_character_class(_MARK_RANGES) + "{16,}+")
_BEYOND_PLANE_0 = re.compile("[\U00010000-\U0010ffff]")


def _canonical_order(match: re.Match[str]) -> str:
    marks = match.group(0).translate(MARKS_WHEN_DECOMPOSED)
    return "".join(sorted(marks, key=unicodedata.combining))


def _has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _join_spaced(match: re.Match[str]) -> str:
    spaced = match.group(0)
    if "." in spaced and not any(c.isalpha() for c in spaced):
        return spaced  # a version number or an IP address, not hidden digits
    if " " in spaced and _SPACED_SEPARATORS.search(spaced.replace(" ", "")):
        # "f.r.e.e m.o.n.e.y": the letters are split by dots, so a space is a word boundary
        return " ".join(_SPACED_SEPARATORS.sub("", word) for word in spaced.split(" "))
    return _as_words(_SPACED_SEPARATORS.sub("", spaced))


def _join_symbol_spaced(match: re.Match[str]) -> str:
    return _as_words(match.group(0).replace(match.group(1), ""))


def _as_words(joined: str) -> str:
    """Letters joined from a spaced-out run, cut into known words where they make some."""
    words = _split_words(joined)
    return " ".join(words) if words else joined


def placeholder_words() -> tuple[str, ...]:
    """The words the normalizer puts in place of bait (``urltoken``, ...)."""
    return _TOKENS


@functools.cache
def _word_costs() -> dict[str, float]:
    """``-log`` of each word's share of the corpus's English words (``english_words.txt``)."""
    counts: dict[str, int] = {}
    for line in ENGLISH_WORDS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            word, count = line.split()
            counts[word] = int(count)
    total = sum(counts.values())
    return {word: math.log(total / count) for word, count in counts.items()}


def is_english_word(word: str) -> bool:
    """``word`` is one of the common English words of ``english_words.txt``."""
    return word in _word_costs()


def preload() -> None:
    """Read the word list now rather than at first use (a worker starting up: at first use, with
    its file descriptors taken, the read failed a whole batch)."""
    _word_costs()
    _starred_words()


def reload_words() -> None:
    """Read ``english_words.txt`` again on next use (after ``python -m training.lexicon``)."""
    _word_costs.cache_clear()
    _longest_word.cache_clear()
    _starred_word_set.cache_clear()
    _starred.cache_clear()
    _word_pieces.cache_clear()


_LONGEST_WORD = 20
_SPLIT_UP_TO = 64


def _split_words(joined: str) -> list[str] | None:
    """The likeliest way to cut ``joined`` into known words ("youaresuchaloser" → you are such
    a loser; "youarealoser" may come back as "you area loser": letters alone do not say which),
    or None when some piece is no known word: then the letters stay joined, as "v i a g r a"
    must. Dynamic programming over cut points, linear in the length (words are at most 20
    letters), and only for runs a reader could have typed letter by letter."""
    if not (joined.isascii() and joined.isalpha()) or len(joined) > _SPLIT_UP_TO:
        return None
    costs = _word_costs()
    best: list[tuple[float, int]] = [(0.0, 0)] + [(math.inf, 0)] * len(joined)
    for end in range(1, len(joined) + 1):
        for start in range(max(0, end - _LONGEST_WORD), end):
            cost = costs.get(joined[start:end])
            if cost is not None and best[start][0] + cost < best[end][0]:
                best[end] = (best[start][0] + cost, start)
    if math.isinf(best[-1][0]):
        return None
    words, end = [], len(joined)
    while end:
        start = best[end][1]
        words.append(joined[start:end])
        end = start
    return words[::-1]


def _url_token(match: re.Match[str]) -> str:
    url = match.group(0).replace(" ", "")
    host = _URL_HOST.match(url)
    domain = _registered_domain(host.group(1)) if host else ""
    return f" {URL_TOKEN} {domain} "


def _registered_domain(host: str) -> str:
    """``a.b.example.com.cn`` → ``example.com.cn``: the part an abuser had to register."""
    labels = [label for label in host.strip(".").split(".") if label]
    if len(labels) >= 3 and labels[-2] in ("com", "net", "org", "gov", "edu", "co", "ac"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _contact_token(match: re.Match[str]) -> str:
    cue, contact_id = match.group(1), match.group(2)
    # after a Latin cue ("line", "tg") a letters-only word is ordinary English, not an ID
    if cue in _ENGLISH_WORD_CUES and not any(c.isdigit() for c in contact_id):
        return match.group(0)
    return f"{cue} {CONTACT_TOKEN} "


def _money_token(match: re.Match[str]) -> str:
    return match.group(0) if match.group("number") is not None else f" {MONEY_TOKEN} "


def _phone_token(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = sum(c.isdigit() for c in candidate)
    # 7+ digits is a phone number; fewer (times, short codes, dates like 2024-05-01) stays text
    if digits < 7 or _looks_like_date(candidate) or _looks_like_chat_numbers(candidate):
        return candidate
    return f" {PHONE_TOKEN} "


_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$")
_PRICE = re.compile(r"^\d{1,4}\.\d{1,2}$")


def _looks_like_chat_numbers(candidate: str) -> bool:
    """Digits that chat uses as words, not a number to call: two digits or fewer repeated
    ("6666666" praise, "23333333" laughter, "88888888" luck, "17 17 17 17"), or a list of
    prices ("2.45 2.47 2.49"). No dialable number is written that way, so no bait is lost."""
    if len({c for c in candidate if c.isdigit()}) <= 2:
        return True
    groups = candidate.split()
    return len(groups) > 1 and all(_PRICE.match(group) for group in groups)


def _looks_like_date(candidate: str) -> bool:
    return _DATE.match(candidate.strip()) is not None


def _without_filler(match: re.Match[str]) -> str:
    return match.group(0).replace(match.group(1), "")


def _without_full_stops(match: re.Match[str]) -> str:
    return match.group(0).replace("。", "")


def _letter_for_symbol(match: re.Match[str]) -> str:
    return match.group(0).translate(_SYMBOL_LETTERS)


def _rejoin(match: re.Match[str]) -> str:
    """A cut word put back together when the corpus's list says so: "mon.ey" → money (its pieces
    are no words), but "night.see" stays two words. A star stands for a letter
    (:func:`_spell_stars`): "b*tch" and "sh*t" become the words people star out, "gr*at" the one
    word of the list it can spell; "c*t" (cat, cut, cot) stays as it is."""
    token = match.group(0)
    if _ALNUM_NEXT.match(match.string, match.end()):  # "v1.2.3a": not a cut word
        return token
    costs = _word_costs()
    if "*" in token and all(set(cut) == {"*"} for cut in _CUTS.findall(token)):
        spelled = _spell_stars(token)
        if spelled is not None:
            return spelled
    pieces = _CUTS.split(token)
    joined = "".join(pieces)
    if joined in costs and not all(piece in costs for piece in pieces):
        return joined
    # words joined by underscores are words: to the model an underscore is part of a word, so
    # "add_my_wechat_for_free_money" was one unknown word (59% of harmful rows written so were
    # flagged, against 92%); a dot or a hyphen already separates words for it
    return token.replace("_", " ")


def _halved(match: re.Match[str]) -> str:
    """A word with every letter written twice, written once."""
    return match.group(0)[::2]


def _join_split_words(text: str) -> str:
    """Words split by a space put back together when the corpus's list says so: "mon ey" →
    money, "fr ee" → free (:func:`_split_from`), but "any one" and "to day" stay two words.
    Only a text with a piece of a listed word between spaces or punctuation is scanned pair by
    pair: a set lookup for the others."""
    text_pieces, byte_pieces = _word_pieces()
    if text.isascii():  # a byte table translates several times faster than a regex finds
        words = text.encode().translate(_ASCII_PUNCTUATION_TO_SPACE).split()
        if byte_pieces.isdisjoint(words):
            return text
    # mostly Chinese: a letter, a space and a letter first, then its few Latin words
    elif not _LETTER_SPACE_LETTER.search(text) or text_pieces.isdisjoint(
        _LATIN_WORDS.findall(text)
    ):
        return text
    costs = _word_costs()
    found = list(_LETTERS_ONLY.finditer(text))
    out: list[str] = []
    position, i = 0, 0
    while i + 1 < len(found):
        first, second = found[i], found[i + 1]
        left, right = first.group(), second.group()
        joined = left + right
        if (
            len(joined) >= _SHORTEST_JOINED
            and joined in costs
            and _split_from(left, right, costs)
            and text[first.end() : second.start()] == " "
        ):
            out += (text[position : first.start()], joined)
            position = second.end()
            i += 2
        else:
            i += 1
    if not out:
        return text
    out.append(text[position:])
    return "".join(out)


# Chat shorthand written out. Ordinary people text "hows ur throat now" and "can u wait 5 mins pls";
# the public sets that hold English abuse are tweets and forum posts, where "u" and "ur" are
# mostly insults, so before this step a model read the spelling itself as hate (the chat-style
# set of ``benchmarks/devset_chat_style``). Only whole words that mean one thing in chat.
_TEXTSPEAK = {
    "u": "you", "ur": "your", "urs": "yours", "r": "are", "pls": "please", "plz": "please",
    "thx": "thanks", "thnx": "thanks", "tks": "thanks", "coz": "because", "cuz": "because",
    "bcoz": "because", "abt": "about", "tmr": "tomorrow", "tmrw": "tomorrow", "tmw": "tomorrow",
    "tdy": "today", "tonite": "tonight", "wat": "what", "wot": "what", "msg": "message",
    "ppl": "people", "luv": "love", "nvm": "never mind", "idk": "i don't know", "lemme": "let me",
    "gonna": "going to", "wanna": "want to", "gimme": "give me", "dunno": "don't know",
    "sry": "sorry", "soz": "sorry", "bday": "birthday", "wud": "would", "cud": "could",
    "shud": "should",
}  # fmt: skip
_TEXTSPEAK_BYTES = frozenset(word.encode() for word in _TEXTSPEAK)
# "'" is part of a word ("u're" is left alone); \w keeps "u盘" (a USB stick) and "r18" whole
_TEXTSPEAK_WORD = re.compile(
    "(?<![\\w'])(?:" + "|".join(sorted(_TEXTSPEAK, key=len, reverse=True)) + ")(?![\\w'])"
)


def _split_run_together(match: re.Match[str]) -> str:
    """Words written without spaces, split where the corpus's list reads them as words, the
    likeliest reading (fewest, commonest words): "addmywechatforfreemoney" is "add my wechat
    for free money". A run with no such reading, or one listed itself, stays as it is. Written
    without spaces, 39% of the English harmful rows of the sample traffic and the dev sets were
    flagged, against 94% as written."""
    run = match.group(0)
    costs = _word_costs()
    if run in costs or run in _TOKENS or run in _starred_word_set():  # "bitching" is no "bit ching"
        return run
    longest = _longest_word()
    best = [0.0] + [math.inf] * len(run)  # cost of the best split of run[:end]
    starts = [0] * (len(run) + 1)
    for end in range(1, len(run) + 1):
        for start in range(max(0, end - longest), end):
            cost = costs.get(run[start:end]) if best[start] < math.inf else None
            if cost is not None and best[start] + cost + _RUN_PIECE_COST < best[end]:
                best[end] = best[start] + cost + _RUN_PIECE_COST
                starts[end] = start
    if best[-1] == math.inf:
        return run
    pieces: list[str] = []
    end = len(run)
    while end > 0:
        pieces.append(run[starts[end] : end])
        end = starts[end]
    pieces.reverse()
    if len(run) / len(pieces) < _RUN_PIECE_LETTERS or any(
        len(a) <= 2 and len(b) <= 2 for a, b in itertools.pairwise(pieces)
    ):
        return run
    return " ".join(pieces)


@functools.cache
def _longest_word() -> int:
    return max(map(len, _word_costs()))


@functools.cache
def _starred_word_set() -> frozenset[str]:
    return frozenset(_starred_words())


def _spell_out_textspeak(text: str) -> str:
    """``_TEXTSPEAK``'s words written out: "r u ok" → "are you ok"."""
    if text.isascii():  # most texts hold none: a set lookup instead of a regex scan
        words = text.encode().translate(_ASCII_PUNCTUATION_TO_SPACE).split()
        if _TEXTSPEAK_BYTES.isdisjoint(words):
            return text
    return _TEXTSPEAK_WORD.sub(_written_out, text)


# a letter on its own next to "u" or "r" ("evri - u k", "h r _ amelia", "n. u. d. e."): the pieces
# of a spaced-out word the steps above could not join, not chat shorthand
_LONE_LETTER_BEFORE = re.compile(r"(?<![\w'])([^\W\d_])\W{1,3}$")
_LONE_LETTER_AFTER = re.compile(r"^\W{1,3}([^\W\d_])(?![\w'])")
_WORDS_OF_ONE_LETTER = frozenset("uria")


def _written_out(match: re.Match[str]) -> str:
    word = match.group()
    if len(word) == 1:
        text, start, end = match.string, match.start(), match.end()
        before = _LONE_LETTER_BEFORE.search(text, max(0, start - 5), start)
        after = _LONE_LETTER_AFTER.match(text[end : end + 5])
        for lone in (before, after):
            if lone is not None and lone.group(1) not in _WORDS_OF_ONE_LETTER:
                return word
    return _TEXTSPEAK[word]


def _split_from(left: str, right: str, costs: dict[str, float]) -> bool:
    """Whether two listed-word halves look split from one word: one at least is no word, and a
    single letter only beside another non-word ("hel p", not "pay s" or "c lick": a lone
    letter beside a word is a unit, an initial or a typo as often)."""
    if left in costs and right in costs:
        return False
    if len(left) == 1 or len(right) == 1:
        return left not in costs and right not in costs
    return True


@functools.cache
def _word_pieces() -> tuple[frozenset[str], frozenset[bytes]]:
    """Every start and end of a listed word (of ``_SHORTEST_JOINED`` letters or more), two letters
    or longer, that is no listed word itself: what one half of a word split in two looks like. A
    lone letter ("hel p") joins only a piece that is no word either (:func:`_split_from`), which
    is in this set, so the letter need not be. As text and as bytes (for ASCII texts)."""
    costs = _word_costs()
    pieces = {
        piece
        for word in costs
        if len(word) >= _SHORTEST_JOINED
        for cut in range(1, len(word))
        for piece in (word[:cut], word[cut:])
        if len(piece) >= 2
    }
    pieces.difference_update(costs)
    return frozenset(pieces), frozenset(piece.encode() for piece in pieces)


def _spell_stars(token: str) -> str | None:
    """The word ``token``'s stars spell, else None: a word of ``starred_words.txt`` with one or
    two letters starred (two in a word of four letters or more) or all but its first and last,
    else the only word of the corpus list with one letter starred."""
    if token.count("*") > _MOST_STARS and not _MASKED.fullmatch(token):
        return None
    return _starred().get(token)


@functools.cache
def _starred_words() -> tuple[str, ...]:
    """The words of ``starred_words.txt``."""
    lines = STARRED_WORDS.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@functools.cache
def _starred() -> dict[str, str | None]:
    """Each starred spelling → its word; None where two words share it. People star out
    profanity and slurs, not "shot" or "chunk": a spelling of a word of ``starred_words.txt``
    is that word whatever else it could spell ("sh*t", "ch*nk", "b*tch" were left as they were,
    and the model, which learned the words unstarred, read little of them). Otherwise one star
    spells the only word of the corpus list it fits. A lookup, so a message of starred words
    costs no more than any."""
    spelled: dict[str, str | None] = {}
    for word in _word_costs():
        for i in range(len(word)):
            template = word[:i] + "*" + word[i + 1 :]
            spelled[template] = word if spelled.get(template, word) == word else None
    listed: dict[str, str | None] = {}
    for word in _starred_words():
        templates = {word[:i] + "*" + word[i + 1 :] for i in range(len(word))}
        if len(word) >= _TWO_STARS_FROM_LETTERS:
            templates.update(
                word[:i] + "*" + word[i + 1 : j] + "*" + word[j + 1 :]
                for i in range(len(word))
                for j in range(i + 1, len(word))
            )
        if len(word) > _TWO_STARS_FROM_LETTERS:  # "n*****s": the stars keep the length
            templates.add(word[0] + "*" * (len(word) - 2) + word[-1])
        for template in templates:
            listed[template] = word if listed.get(template, word) == word else None
    return spelled | listed


def _as_displayed(match: re.Match[str]) -> str:
    return match.group(1)[::-1]


def _unleet(match: re.Match[str]) -> str:
    word = match.group(0)
    letters = sum(c.isalpha() for c in word)
    unleeted = word.translate(_LEET_TABLE)
    # words that are mostly letters: "fr33", "c4sh", "p0rn"; not "abc123456" or "5g"
    if letters >= 2 and letters >= len(word) - letters and not word.isdigit():
        return unleeted
    # or of three characters or more that become a word of the corpus: "l053r", "4r3",
    # "w0r7hl355" (not "4s" or "i5", which are model numbers far more often than "as" or "is")
    if letters and len(word) >= 3 and unleeted in _word_costs():
        return unleeted
    return word


def _unstretch(match: re.Match[str]) -> str:
    """A word with letters stretched ("yooouuu", "freeeee", "looooser") → the word of the corpus's
    list that keeps one or two of each stretched letter ("you", "free", "loser"), the likeliest if
    several; a word with no such reading is left to the cap of two repeats."""
    word = match.group(0)
    if len(word) > _SPLIT_UP_TO or not _LETTER_RUN.search(word):
        return word
    pieces = [run.group(0) for run in _SAME_LETTERS.finditer(word)]
    stretched = [i for i, piece in enumerate(pieces) if len(piece) >= 3]
    if len(stretched) > _MOST_STRETCHES:
        return word
    costs = _word_costs()
    best: tuple[float, str] | None = None
    for keep in itertools.product((1, 2), repeat=len(stretched)):
        for i, n in zip(stretched, keep, strict=True):
            pieces[i] = pieces[i][0] * n
        candidate = "".join(pieces)
        cost = costs.get(candidate)
        if cost is not None and (best is None or cost < best[0]):
            best = (cost, candidate)
    return best[1] if best else word
