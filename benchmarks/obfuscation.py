"""How much of the dev set's harmful text each obfuscation hides, for several model versions.

    .venv/bin/python benchmarks/obfuscation.py --model NAME=REGISTRY[:VERSION] ...

Every row of ``benchmarks/devset/`` is rewritten by one obfuscation at a time (the whole
message: full-width, look-alikes, zero-width characters, every letter spaced or dotted, longer
words cut or starred, boxed or accented letters, leetspeak, stretched vowels, traditional Chinese,
text stored reversed behind a right-to-left override, upside down, "fancy text" alphabets, ...) and decided
by each model (its own thresholds). Per obfuscation: harmful rows flagged (review or block),
English and Chinese apart, and clean rows flagged and blocked. A robust normalizer keeps every
row near ``plain``. Markdown on stdout.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Callable, Sequence

import compare_models
from opencc import OpenCC

_HOMOGLYPHS = str.maketrans(
    {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "y": "у"}
)
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
_SMALL_CAPS = dict(zip("abcdefghijklmnopqrstuvwxyz", "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡxʏᴢ", strict=True))
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "")
# "fancy text" alphabets of font-generator sites, a to z
_FANCY = {
    "Canadian syllabics look-alikes": "ᗩᗷᑕᗪᗴᖴᘜᕼᓰᒍᛕᒪᗰᑎᝪᑭᑫᖇᔕᖶᑌᐯᗯ᙭Ꭹᘔ",
    "Thai-style look-alikes": "ค๒ς๔єŦﻮђเןкɭ๓ภ๏קợгรՇยשฬאץչ",
    "Lisu look-alikes": "ꓮꓐꓚꓓꓰꓝꓖꓧꓲꓙꓗꓡꓟꓠꓳꓑQꓣꓢꓔꓴꓦꓪꓫꓬꓜ",
    "hooked letters": "ąɓƈɗęƒɠɦįʝƙɭɱɲǫƥʠɽʂƭųʋɯҳƴȥ",
}
_CJK = re.compile("[\u4e00-\u9fff]")
_BETWEEN_LETTERS = re.compile(r"(?<=[^\W\d_])(?=[^\W\d_])")
_TURNED = str.maketrans("abcdefghijkmnpqrtuvwy',", "ɐqɔpǝɟƃɥᴉɾʞɯudbɹʇnʌʍʎ,'")


def _letters(text: str, letter: Callable[[str], str]) -> str:
    return "".join(letter(c) if c.isascii() and c.isalpha() else c for c in text)


def _offset(first_lower: int, first_upper: int | None = None) -> Callable[[str], str]:
    def letter(c: str) -> str:
        if c.isupper() and first_upper is not None:
            return chr(first_upper + ord(c) - ord("A"))
        return chr(first_lower + ord(c.lower()) - ord("a"))

    return letter


def _each_word(text: str, separator: str) -> str:
    return " ".join(separator.join(word) for word in text.split(" "))


def _cut_words(text: str, cut: Callable[[str], str]) -> str:
    """``cut`` applied to every Latin word of four letters or more."""
    return " ".join(
        cut(w) if len(w) >= 4 and w.isascii() and w.isalpha() else w for w in text.split(" ")
    )


def _inside(separator: str) -> Callable[[str], str]:
    return lambda word: word[: len(word) // 2] + separator + word[len(word) // 2 :]


def _swap_middle(word: str) -> str:
    middle = len(word) // 2
    return word[: middle - 1] + word[middle] + word[middle - 1] + word[middle + 1 :]


def _between_chinese(text: str, separator: str) -> str:
    return "".join(c + separator if "\u4e00" <= c <= "\u9fff" else c for c in text)


def obfuscations(seed: int = 1) -> dict[str, Callable[[str], str]]:
    rng = random.Random(seed)
    return {
        "plain": lambda t: t,
        "upper case": str.upper,
        "full-width": lambda t: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in t),
        "Cyrillic look-alikes": lambda t: t.translate(_HOMOGLYPHS),
        "zero-width between all": "\u200b".join,
        "mixed invisibles": lambda t: "".join(c + rng.choice(_ZERO_WIDTH) for c in t),
        "every letter spaced": lambda t: _each_word(t, " "),
        "every letter dotted": lambda t: _each_word(t, "."),
        "every letter starred": lambda t: _each_word(t, "*"),
        "dot inside longer words": lambda t: _cut_words(t, _inside(".")),
        "dash inside longer words": lambda t: _cut_words(t, _inside("-")),
        "space inside longer words": lambda t: _cut_words(t, _inside(" ")),
        "second letter starred": lambda t: _cut_words(t, lambda w: w[0] + "*" + w[2:]),
        "two middle letters swapped": lambda t: _cut_words(t, _swap_middle),
        "vowels dropped": lambda t: _cut_words(
            t, lambda w: w[0] + "".join(c for c in w[1:] if c.lower() not in "aeiou")
        ),
        "leetspeak": lambda t: t.translate(_LEET),
        "math bold": lambda t: _letters(t, _offset(0x1D41A, 0x1D400)),
        "circled": lambda t: _letters(t, _offset(0x24D0, 0x24B6)),
        "negative squared": lambda t: _letters(t, _offset(0x1F170)),
        "regional indicators": lambda t: _letters(t, lambda c: _offset(0x1F1E6)(c) + "\u200b"),
        "small capitals": lambda t: "".join(_SMALL_CAPS.get(c, c) for c in t),
        "accent on every letter": lambda t: "".join(c + "\u0301" if c.isalpha() else c for c in t),
        "struck through": lambda t: "".join(c + "\u0336" if c.isalpha() else c for c in t),
        "right-to-left override": lambda t: "\u202e" + t[::-1] + "\u202c",
        "emoji between words": lambda t: " 🔥 ".join(t.split(" ")),
        "Chinese spaced": lambda t: _between_chinese(t, " "),
        "Chinese with bars": lambda t: _between_chinese(t, "|"),
        "Chinese with emoji": lambda t: _between_chinese(t, "🌸"),
        "Chinese with full stops": lambda t: _between_chinese(t, "。"),
        "Chinese with middle dots": lambda t: _between_chinese(t, "・"),
        "Chinese with a digit between": lambda t: _between_chinese(t, "1"),
        "Chinese in traditional script": OpenCC("s2t").convert,
        "vowels tripled": lambda t: "".join(c * 3 if c in "aeiou" else c for c in t),
        "apostrophe between letters": lambda t: _BETWEEN_LETTERS.sub("'", t),
        # font sites turn the letters and reverse the whole text; Chinese they would only reverse
        "upside down": lambda t: t if _CJK.search(t) else t.lower()[::-1].translate(_TURNED),
        **{name: _in_alphabet(alphabet) for name, alphabet in _FANCY.items()},
        # probed on 2026-12-07: blanks and format controls outside the usual invisibles, words
        # joined, doubled letters, and a friendly sentence before the message
        "Hangul fillers for spaces": lambda t: t.replace(" ", "\u3164"),
        "musical format control between all": "\U0001d173".join,
        "underscores for spaces": lambda t: t.replace(" ", "_"),
        "no spaces": lambda t: t.replace(" ", ""),
        "every letter doubled": lambda t: "".join(
            c * 2 if c.isalpha() and c.isascii() else c for c in t
        ),
        "friendly sentence before": lambda t: (
            (_FRIENDLY_ZH if _CJK.search(t) else _FRIENDLY_EN) + t
        ),
    }


_FRIENDLY_EN = (
    "hey how was your weekend? we went to the park with the kids, lovely weather. anyway, "
)
_FRIENDLY_ZH = "周末过得怎么样？我们带孩子去公园野餐了，天气特别好。对了，"


def _in_alphabet(alphabet: str) -> Callable[[str], str]:
    letters = dict(zip("abcdefghijklmnopqrstuvwxyz", alphabet, strict=True))
    return lambda t: "".join(letters.get(c, c) for c in t.lower())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=REGISTRY[:V]")
    args = parser.parse_args(argv)
    models = [compare_models.load(spec) for spec in args.model]
    rows = compare_models.splits()["dev set, all"]
    harmful = [r for r in rows if r.get("categories")]
    clean = [r for r in rows if not r.get("categories")]
    header = ["obfuscation"]
    for name, _ in models:
        header += [f"{name}: harmful flagged", "en / zh", "clean flagged (blocked)"]
    out = [
        f"dev set: {len(harmful)} harmful rows, {len(clean)} clean rows",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for name, obfuscate in obfuscations().items():
        cells = [name]
        for _, loaded in models:
            flagged = [
                action != "allow"
                for action in compare_models.decide(loaded, [obfuscate(r["text"]) for r in harmful])
            ]
            by_lang = {
                lang: [f for f, r in zip(flagged, harmful, strict=True) if r.get("lang") == lang]
                for lang in ("en", "zh")
            }
            clean_actions = compare_models.decide(loaded, [obfuscate(r["text"]) for r in clean])
            cells += [
                f"{sum(flagged) / len(flagged):.1%}",
                " / ".join(f"{sum(v) / max(len(v), 1):.1%}" for v in by_lang.values()),
                f"{sum(a != 'allow' for a in clean_actions)} "
                f"({sum(a == 'block' for a in clean_actions)})",
            ]
        out.append("| " + " | ".join(cells) + " |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
