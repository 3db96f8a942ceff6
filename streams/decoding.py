"""Raw Kafka bytes → a validated event, or the reason it cannot be one. Pure: no Kafka, no model.

Topics carry raw bytes so that malformed input reaches this code instead of dying inside Faust's
deserializer; every failure is returned as a :class:`Rejected` value (errors are data) that the
agent turns into a dead-letter record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson

from streams.records import FIELD_SPECS, FieldSpec

# The event types each input topic may carry; an event without "type" gets the topic's default.
TOPIC_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "chat.messages": ("chat.message",),
    "posts": ("post",),
    "user.reports": ("user.report",),
    "moderator.labels": ("moderator.label",),
    "moderator.decisions": ("moderator.decision",),
}


@dataclass(frozen=True, slots=True)
class Event:
    """A validated incoming event, reduced to what moderation needs."""

    event_type: str
    event_id: str
    account_id: str
    text: str  # what the model scores (a post's title and body)
    source: str  # the policy source: chat, post:ad, account:public, ...
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why raw bytes are not a valid event; ``event_id`` when it could still be read."""

    kind: str  # invalid_utf8, malformed_json, not_an_object, unknown_type, missing_field, ...
    error: str
    event_id: str | None = None


def decode(
    raw: bytes | None, topic: str, *, max_event_bytes: int, max_text_chars: int
) -> Event | Rejected:
    """Decode and validate one event from ``topic`` (the logical topic name, without prefix)."""
    if raw is None:
        return Rejected("empty_value", "the message has no value (a tombstone?)")
    if len(raw) > max_event_bytes:
        return Rejected(
            "oversize_event", f"event is {len(raw)} bytes; the limit is {max_event_bytes}"
        )
    try:
        data = orjson.loads(raw)  # orjson rejects invalid UTF-8 with a JSONDecodeError
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as unicode_exc:
            return Rejected("invalid_utf8", f"not valid UTF-8: {unicode_exc}")
        return Rejected("malformed_json", f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        return Rejected("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    allowed = TOPIC_EVENT_TYPES.get(topic, ())
    event_type = data.get("type", allowed[0] if allowed else None)
    if event_type not in allowed:
        expected = ", ".join(allowed) or "nothing"
        return Rejected(
            "unknown_type", f"event type {event_type!r} on {topic}; expected {expected}", event_id
        )
    problem = _check_fields(data, FIELD_SPECS[event_type])
    if problem is not None:
        return Rejected(problem[0], problem[1], event_id)
    assert event_id is not None  # a required str field, checked above
    text = data.get("text", "x")  # reports carry no text to check
    if not text.strip():
        return Rejected("empty_text", "text is empty or only whitespace", event_id)
    if len(text) > max_text_chars:
        return Rejected(
            "oversize_text",
            f"text has {len(text)} characters; the limit is {max_text_chars}",
            event_id,
        )
    return _event(event_type, event_id, data)


def _check_fields(data: dict[str, Any], specs: dict[str, FieldSpec]) -> tuple[str, str] | None:
    for name, spec in specs.items():
        if name not in data or data[name] is None:
            if spec.required:
                return "missing_field", f"required field {name!r} is missing"
            continue
        value = data[name]
        # bool is an int in Python, but true is not a timestamp
        if not isinstance(value, spec.types) or (
            isinstance(value, bool) and bool not in spec.types
        ):
            expected = "/".join(t.__name__ for t in spec.types)
            return "wrong_type", f"field {name!r} must be {expected}, got {type(value).__name__}"
        if spec.item_type is not None and not all(
            isinstance(item, spec.item_type) for item in cast(list[Any], value)
        ):
            return "wrong_type", f"field {name!r} must be a list of {spec.item_type.__name__}"
        if spec.choices and value not in spec.choices:
            return (
                "invalid_value",
                f"field {name!r} is {value!r}; expected one of {', '.join(spec.choices)}",
            )
        if spec.types == (str,) and name.endswith("_id") and not value:
            return "invalid_value", f"field {name!r} is empty"
    return None


def _event(event_type: str, event_id: str, data: dict[str, Any]) -> Event:
    if event_type == "chat.message":
        return Event(event_type, event_id, data["sender_id"], data["text"], "chat", data)
    if event_type == "post":
        title = data.get("title") or ""
        text = f"{title}\n{data['text']}" if title else data["text"]
        return Event(event_type, event_id, data["account_id"], text, post_source(data), data)
    # reports and labels are not scored; the account is the one they concern
    return Event(
        event_type, event_id, data.get("account_id", ""), data.get("text", ""), event_type, data
    )


def post_source(data: dict[str, Any]) -> str:
    """The policy source of a post: ads first, then non-personal accounts, then the post kind."""
    if data["post_kind"] == "ad":
        return "post:ad"
    if data["account_type"] != "personal":
        return f"account:{data['account_type']}"
    return f"post:{data['post_kind']}"
