"""Text from a topic, made safe to print on a terminal."""

from __future__ import annotations

import re

# what must not reach a terminal raw: C0 and C1 controls and DEL (cursor moves, window titles,
# a carriage return that overwrites the line), and the bidirectional marks, embeddings,
# overrides and isolates and the line and paragraph separators (text that reads reordered);
# and what prints as nothing (zero-width spaces and joiners' kin, word joiner and invisible
# operators, soft hyphen, BOM, Hangul fillers, tag characters), so a moderator sees the
# "s\u200bupport" an abuser hid from the model. The zero-width joiner and the variation selectors
# stay: emoji are built from them.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u061c\u115f\u1160\u180e\u200b\u200c\u200e\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0\U000e0000-\U000e007f]"
)


def printable(text: str, *, json: bool = False) -> str:
    """``text`` with the characters that would steer a terminal escaped (``\\x1b``, ``\\u202e``;
    with ``json``, ``\\u001b`` forms, valid inside JSON strings): anyone who can send a chat
    message chooses the text a moderator's terminal shows."""
    if json:
        return _UNSAFE.sub(_escape_json, text)
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape_json(match: re.Match[str]) -> str:
    """JSON's escape: a character beyond the BMP is its UTF-16 surrogate pair."""
    units = match.group().encode("utf-16-be")
    return "".join(
        f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2)
    )
