"""Ids on every input kind: not blank, and no character that does not show as itself.

An outside probe had ``sender_id: "   "`` accepted as an account while ``""`` was refused, and
an event id holding NUL, a newline and an ANSI escape echoed into decisions, logs and
``chatguard tail``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from streams.decoding import Event, Rejected, decode, decode_strike
from streams.ids import id_problem
from streams.kinds import FIELD_SPECS, KINDS, topic_of

LIMITS = {"max_event_bytes": 1_048_576, "max_text_chars": 20_000, "max_id_chars": 256}
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

REFUSED = {
    "blank": "   ",
    "blank_nbsp": "\u00a0\u3000",
    "empty": "",
    "terminal_escapes": "e1\x00\n\x1b[31m",  # the probe's
    "tab": "a\tb",
    "del": "a\x7fb",
    "c1_control": "a\x85b",
    "bidi_override": "acct-\u202e1gnp",  # shows as acct-png1...
    "zero_width_space": "acct\u200b1",  # looks like acct1
    "byte_order_mark": "\ufeffacct1",
    "line_separator": "a\u2028b",
    "tag_character": "acct\U000e0041",  # invisible; above U+FFFF
}
ALLOWED = {
    "plain": "e-1f3a9",
    "inner_space": "Jo Doe",
    "nbsp_inside": "a\u00a0b",
    "cjk": "用户-42",
    "emoji": "\U0001f600-7",
    "combining_mark": "cafe\u0301",
    "right_to_left_letters": "حساب-9",
}


def _valid(event_type: str) -> dict[str, Any]:
    """A minimal valid event of ``event_type``: its required fields filled in."""
    data: dict[str, Any] = {"type": event_type}
    for name, spec in FIELD_SPECS[event_type].items():
        if not spec.required:
            continue
        if spec.choices:
            data[name] = spec.choices[0]
        elif str in spec.types:
            data[name] = f"{name}-1"
        elif list in spec.types:
            data[name] = []
        else:
            data[name] = 1.0
    return data


ID_FIELDS = [
    (kind.event_type, name)
    for kind in KINDS
    for name, spec in FIELD_SPECS[kind.event_type].items()
    if spec.types == (str,) and name.endswith("_id")
]


def _decode(event_type: str, **fields: Any) -> Event | Rejected:
    raw = orjson.dumps({**_valid(event_type), **fields})
    return decode(raw, topic_of(event_type), **LIMITS)


def test_every_kind_decodes_with_its_minimal_fields() -> None:
    assert {kind.event_type for kind in KINDS} == {event_type for event_type, _ in ID_FIELDS}
    for kind in KINDS:
        assert isinstance(_decode(kind.event_type), Event), kind.event_type


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize(("event_type", "field"), ID_FIELDS, ids=[f"{t}.{f}" for t, f in ID_FIELDS])
def test_a_blank_id_or_one_with_a_character_that_does_not_show_is_refused_naming_it(
    event_type: str, field: str, value: str
) -> None:
    result = _decode(event_type, **{field: value})
    assert isinstance(result, Rejected)
    assert result.kind == "invalid_value"
    assert result.error.startswith(f"field {field!r} ")
    assert result.error.isprintable()  # the reason quotes the id escaped
    if field == "event_id" and value.strip():  # a dead letter carries no such id as it is
        assert result.event_id is None


@pytest.mark.parametrize("value", ALLOWED.values(), ids=ALLOWED.keys())
@pytest.mark.parametrize(("event_type", "field"), ID_FIELDS, ids=[f"{t}.{f}" for t, f in ID_FIELDS])
def test_an_id_of_characters_that_show_is_accepted(event_type: str, field: str, value: str) -> None:
    assert isinstance(_decode(event_type, **{field: value}), Event)


def test_the_account_of_a_strike_signal_follows_the_same_rule() -> None:
    signal = {
        "signal_id": "block:e1",
        "event_id": "e1",
        "account_id": "   ",
        "categories": ["spam"],
        "weight": 1.0,
    }
    result = decode_strike(orjson.dumps(signal), None, max_id_chars=256)
    assert isinstance(result, Rejected) and "'account_id' is only whitespace" in result.error


@pytest.mark.parametrize(
    "value", [*REFUSED.values(), *ALLOWED.values(), "abc\n"], ids=[*REFUSED, *ALLOWED, "newline"]
)
def test_the_committed_schemas_say_what_decoding_does(value: str) -> None:
    """The pattern of the JSON Schemas agrees with decoding, except above U+FFFF, which the
    pattern cannot list portably (its description says so)."""
    schema = json.loads((SCHEMAS / "chat.message.schema.json").read_text())
    valid = Draft202012Validator(schema).is_valid({**_valid("chat.message"), "sender_id": value})
    if all(ord(char) <= 0xFFFF for char in value) or id_problem(value) is None:
        assert valid == (id_problem(value) is None)
    else:  # a tag character: refused by decoding, past what the pattern lists
        assert valid
