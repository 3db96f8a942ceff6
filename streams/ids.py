"""What an id on an input topic may hold: something, and only characters that show.

Ids name events and accounts in decisions, dead letters, logs and ``chatguard tail``, and
they are compared as they are. An outside probe had ``sender_id: "   "`` accepted as an account
(``""`` was refused) and an event id holding NUL, a newline and an ANSI colour escape echoed
into decisions, where a terminal runs the escape and a log reader sees a line break. Refused:

- control characters (Unicode ``Cc``: NUL, newline, ESC, DEL, C1 controls);
- format characters (``Cf``): bidi overrides turn an id around on screen, and zero-width ones
  make two ids that differ look the same, so a moderator reading either would be misled; tags
  (U+E0020…) hide whole words. No id a platform issues needs one;
- line and paragraph separators (``Zl``, ``Zp``), which break lines as a newline does.

Other spaces (``Zs``) stay allowed inside an id, but not an id of nothing else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id (``"is empty"``, ...), or None."""
    if not value:
        return "is empty"
    # the common case in one C-speed pass: isprintable() is False for every refused category
    # (and for spaces other than " ", which are allowed, hence the closer look)
    if not value.isprintable():
        for char in value:
            category = unicodedata.category(char)
            if category in REFUSED_CATEGORIES:
                name = unicodedata.name(char, "a control character")
                return (
                    f"holds U+{ord(char):04X} ({name}, category {category}): an id may hold "
                    "no control or invisible character"
                )
    if value.isspace():
        return "is only whitespace"
    return None


def refused(char: str) -> bool:
    """True for a character no id may hold."""
    return unicodedata.category(char) in REFUSED_CATEGORIES


def schema_pattern() -> str:
    """A JSON Schema ``pattern`` for an id: not only whitespace, and no refused character of the
    Basic Multilingual Plane. Written with ``\\uXXXX`` escapes, which Python's ``re`` and
    ECMA-262 read alike with or without its ``u`` flag; characters above U+FFFF cannot be
    written so for both, so the few refused there (format characters such as tags) are left to
    the description."""
    bmp = [chr(code) for code in range(0x10000)]
    banned = _ranges(c for c in bmp if refused(c))
    blank = _ranges(c for c in bmp if c.isspace() and not refused(c))
    # lookaheads rather than ``[^…]*$``: Python's ``$`` also matches before a final newline
    return f"^(?![{blank}]*$)(?![\\s\\S]*[{banned}])"


def _ranges(chars: Iterable[str]) -> str:
    """Characters in code point order as a regex class body of ``\\uXXXX`` ranges."""
    runs: list[list[int]] = []
    for code in map(ord, chars):
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(
        f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
        for first, last in runs
    )
