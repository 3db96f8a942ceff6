"""JSON that escapes a lone UTF-16 surrogate, as JavaScript's ``JSON.stringify`` writes a text
cut inside an emoji: valid JSON syntax that orjson refuses. The event is moderated with the
replacement character in its place, not dead-lettered (a lone surrogate appended to spam would
otherwise hide it from the model)."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.decoding import Event, Rejected, decode, lone_surrogates_replaced

LIMITS = {"max_event_bytes": 1_048_576, "max_text_chars": 20_000, "max_id_chars": 256}


def _chat_json(text_escaped: str) -> bytes:
    return (
        '{"type": "chat.message", "event_id": "e1", "conversation_id": "c1", '
        f'"sender_id": "s1", "sent_at": 1.0, "text": "{text_escaped}"}}'
    ).encode()


def _decoded(raw: bytes) -> Event:
    event = decode(raw, "chat.messages", **LIMITS)
    assert isinstance(event, Event), event
    return event


def test_a_text_cut_inside_an_emoji_is_moderated_with_a_replacement_character() -> None:
    cut = _chat_json(r"加微信 a8k9 领红包 \ud83c")  # JSON.stringify("...🎁".slice(0, -1))
    assert _decoded(cut).text == "加微信 a8k9 领红包 \ufffd"
    assert _decoded(_chat_json(r"\ude01 free money")).text == "\ufffd free money"
    assert _decoded(_chat_json(r"\ud83c\udf81 gift")).text == "🎁 gift"  # a pair stays one


def test_an_escaped_backslash_before_u_is_text_not_an_escape() -> None:
    literal = _chat_json(r"path C:\\ud800 and \ud800")
    assert _decoded(literal).text == "path C:\\ud800 and \ufffd"


def test_a_malformed_document_with_a_lone_surrogate_is_still_malformed() -> None:
    broken = b'{"type": "chat.message", "text": "\\ud800", '
    rejected = decode(broken, "chat.messages", **LIMITS)
    assert isinstance(rejected, Rejected) and rejected.kind == "malformed_json"


@given(st.text(max_size=60))
def test_json_without_lone_surrogates_reads_as_it_did(text: str) -> None:
    escaped = json.dumps(text)  # every non-ASCII character escaped, astral ones as pairs
    assert orjson.loads(lone_surrogates_replaced(escaped)) == orjson.loads(escaped) == text


def test_what_orjson_refuses_besides_surrogates_it_still_refuses() -> None:
    lone = _chat_json(r"\ud800")
    assert isinstance(decode(lone, "chat.messages", **LIMITS), Event)
    for value in ("NaN", "Infinity", "1e999"):
        raw = lone.replace(b'"sent_at": 1.0', f'"sent_at": {value}'.encode())
        rejected = decode(raw, "chat.messages", **LIMITS)
        assert isinstance(rejected, Rejected) and rejected.kind == "malformed_json", value
    # the lone surrogate first, so orjson stops at it and Python's parser meets the depth
    # (deeper than its recursion limit, within the containers a record may open)
    deep = b'{"y": "\\ud800", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    rejected = decode(deep, "chat.messages", **LIMITS)
    assert isinstance(rejected, Rejected) and rejected.kind == "malformed_json"
