"""Hostile input for the event decoder: whatever the bytes, the answer is an event or a reason."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.decoding import TOPIC_EVENT_TYPES, Event, Rejected, decode

LIMITS = {"max_event_bytes": 1_048_576, "max_text_chars": 20_000}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
topics = st.sampled_from([*TOPIC_EVENT_TYPES, "unknown.topic"])


@given(st.binary(max_size=2_000), topics)
def test_arbitrary_bytes(raw: bytes, topic: str) -> None:
    assert isinstance(decode(raw, topic, **LIMITS), Event | Rejected)


@given(json_values, topics)
def test_arbitrary_json(value: object, topic: str) -> None:
    result = decode(json.dumps(value).encode(), topic, **LIMITS)
    assert isinstance(result, Event | Rejected)
    if isinstance(result, Rejected):
        assert result.kind and result.error


@given(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["chat.message", "post", "x"]),
            "event_id": st.text(max_size=8) | st.integers(),
            "conversation_id": st.text(max_size=8),
            "sender_id": st.text(max_size=8) | st.none(),
            "text": st.text(max_size=50) | st.integers() | st.lists(st.text(), max_size=2),
            "sent_at": st.floats(allow_nan=False) | st.text(max_size=5) | st.booleans(),
        }
    )
)
def test_chat_shaped_events_are_validated(data: dict[str, object]) -> None:
    result = decode(json.dumps(data).encode(), "chat.messages", **LIMITS)
    if isinstance(result, Event):
        assert isinstance(data["text"], str) and data["text"].strip()
        assert isinstance(data["sent_at"], float) and not isinstance(data["sent_at"], bool)
        assert result.event_id == data["event_id"] and result.account_id == data["sender_id"]


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    result = decode(nested, "chat.messages", **LIMITS)
    assert isinstance(result, Rejected)


def test_megabyte_text_is_rejected_as_oversize() -> None:
    raw = orjson.dumps(
        {
            "event_id": "e",
            "conversation_id": "c",
            "sender_id": "s",
            "text": "赌" * 400_000,
            "sent_at": 1.0,
        }
    )
    result = decode(raw, "chat.messages", **LIMITS)
    assert isinstance(result, Rejected) and result.kind in ("oversize_event", "oversize_text")
