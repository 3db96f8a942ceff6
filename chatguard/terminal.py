"""Text from a topic, made safe to print on a terminal."""

from __future__ import annotations

import re

# what must not reach a terminal raw: C0 and C1 controls and DEL (cursor moves, window titles,
# a carriage return that overwrites the line), and the bidirectional marks, embeddings,
# overrides and isolates and the line and paragraph separators (text that reads reordered)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str, *, json: bool = False) -> str:
    """``text`` with the characters that would steer a terminal escaped (``\\x1b``, ``\\u202e``;
    with ``json``, ``\\u001b`` forms, valid inside JSON strings): anyone who can send a chat
    message chooses the text a moderator's terminal shows."""
    if json:
        return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
