"""Raw Kafka bytes → a validated event, or the reason it cannot be one. Pure: no Kafka, no model.

Topics carry raw bytes so that malformed input reaches this code instead of dying inside Faust's
deserializer; every failure is returned as a :class:`Rejected` value (errors are data) that the
pipeline turns into a dead-letter record. What each topic may carry, and how an event of each
kind is read (its fields, account, text and policy source), comes from ``streams.kinds``; the
strike signals of the internal ``account.strikes`` topic are checked here too.
"""

from __future__ import annotations

import functools
import gc
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import orjson

from streams.ids import id_problem, refused
from streams.kinds import BY_TYPE, TOPIC_EVENT_TYPES
from streams.records import FieldSpec


@dataclass(frozen=True, slots=True)
class Event:
    """A validated incoming event, reduced to what moderation needs."""

    event_type: str
    event_id: str
    account_id: str
    text: str  # what the model scores (streams.kinds: a post's title and body, ...)
    source: str  # the policy source: chat, post:ad, account:public, ...
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why raw bytes are not a valid event; ``event_id`` when it could still be read."""

    kind: str  # invalid_utf8, malformed_json, not_an_object, unknown_type, missing_field, ...
    error: str
    event_id: str | None = None


# how much of an offending value an error message quotes
SHOWN_CHARS = 80
# arrays and objects one record may open, counted as "[" and "{" bytes before parsing (text
# holding them counts too, and a text is at most 20,000 characters): a 1 MB record of 333,000
# empty lists took 170 ms to parse on a worker's heap, mostly in the garbage collector
MAX_CONTAINERS = 50_000
# a strike signal's weight above this is forged (the largest real one is a confirmed report's)
MAX_STRIKE_WEIGHT = 1_000.0
MAX_STRIKE_CATEGORIES = 64


def decode(
    raw: bytes | None,
    topic: str,
    *,
    max_event_bytes: int,
    max_text_chars: int,
    max_id_chars: int = 256,
) -> Event | Rejected:
    """Decode and validate one event from ``topic`` (the logical topic name, without prefix)."""
    if raw is None:
        return Rejected("empty_value", "the message has no value (a tombstone?)")
    if len(raw) > max_event_bytes:
        return Rejected(
            "oversize_event", f"event is {len(raw)} bytes; the limit is {max_event_bytes}"
        )
    crowded = too_many_containers(raw)
    if crowded is not None:
        return crowded
    unreadable: dict[str, str] = {}
    try:
        data = orjson.loads(raw)  # orjson rejects invalid UTF-8 with a JSONDecodeError
    except orjson.JSONDecodeError as exc:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as unicode_exc:
            return Rejected("invalid_utf8", f"not valid UTF-8: {unicode_exc}")
        if "surrogate" not in str(exc):
            return Rejected("malformed_json", f"not valid JSON: {exc}")
        try:
            data, unreadable = lone_surrogates_replaced(text)
        except ValueError as again:  # orjson's error is a ValueError
            return Rejected("malformed_json", f"not valid JSON: {again}")
    if not isinstance(data, dict):
        return Rejected("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    event_id = _quotable_id(data, max_id_chars, unreadable)
    allowed = TOPIC_EVENT_TYPES.get(topic, ())
    event_type = data.get("type", allowed[0] if allowed else None)
    if not isinstance(event_type, str) or event_type not in allowed:
        expected = ", ".join(allowed) or "nothing"
        return Rejected(
            "unknown_type",
            f"event type {_shown(event_type)} on {topic}; expected {expected}",
            event_id,
        )
    kind = BY_TYPE[event_type]
    repeated = repeated_field(raw, kind.specs)
    if repeated is not None:
        return Rejected("duplicate_field", repeated, event_id)
    # free-text fields are bounded by max_text_chars below; every other string by max_id_chars
    problem = _check_fields(data, kind.specs, max_id_chars, kind.text_fields, unreadable)
    if problem is not None:
        return Rejected(problem[0], problem[1], event_id)
    data = without_nulls(data)
    assert event_id is not None  # a required str field, checked above
    # an event with text is empty only when all of it is blank: a post whose body is " " is
    # scored on its title (a dead letter for it let a spam title through unscored)
    texts = [data.get(name) for name in kind.text_fields]
    if kind.required_text and not any(isinstance(t, str) and t.strip() for t in texts):
        names = " and ".join(kind.text_fields)
        message = "text is empty or only whitespace"
        return Rejected(
            "empty_text", message if names == "text" else f"{names}: {message}", event_id
        )
    account = data[kind.account_field] if kind.account_field is not None else ""
    source = kind.source if isinstance(kind.source, str) else kind.source(data)
    event = Event(event_type, event_id, account, kind.text(data), source, data)
    if len(event.text) > max_text_chars:  # a post's title counts: it is scored with the body
        return Rejected(
            "oversize_text",
            f"text has {len(event.text)} characters; the limit is {max_text_chars}",
            event_id,
        )
    return event


# A \u escape of a UTF-16 surrogate, a high one with the low one after it or either alone: the
# last backslash of a run of an odd count (the others are escaped backslashes; after an even
# count the u is a letter). A match starts at a run's first backslash only, so a search is one
# pass that skips to backslashes.
_SURROGATE_ESCAPE = re.compile(
    r"\\(?<!\\\\)((?:\\\\)*+)u(?:([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|([dD][c-fC-F][0-9a-fA-F]{2}))"
)
# A lone surrogate stands in as a private-use character where the caller is told what it was
_STAND_IN = 0xF0000 - 0xD800
_REPLACEMENT = re.compile("\ufffd")


def lone_surrogates_replaced(text: str) -> tuple[Any, dict[str, str]]:
    """``text`` (JSON) parsed with each lone UTF-16 surrogate it escapes (``"\\ud83d"``)
    replaced by the replacement character, as a browser shows it, and the top-level string fields
    that held one, as they were; raises ``ValueError`` for what is not JSON.

    Such an escape is valid JSON syntax, and it is what JavaScript's ``JSON.stringify`` writes
    for a text cut inside an emoji; but it is no Unicode character, so orjson refuses the whole
    event. Dead-lettering it would let anyone hide a message from moderation by appending one.
    The escapes are replaced in the text itself and orjson reads the rest, so what orjson refuses
    (NaN, 1e999, huge ints, nesting past its depth) it still refuses. Until 2026-12-05 Python's
    parser read the whole event and wrote it back: a megabyte of numbers beside one lone
    surrogate cost 160-320 ms on the event loop, 15-40 times the same event without it.

    Replacing is right for text, which is scored, not for an id, which names something: ids
    that differ only in their lone surrogates would become one. The fields returned let the
    caller refuse those (:func:`decode` does). They are found by reading the text a second time
    with another character in each lone surrogate's place: the two readings differ in exactly
    the fields that held one, whatever characters the sender put beside them."""
    data = orjson.loads(_SURROGATE_ESCAPE.sub(_replacement_escape, text))
    if not isinstance(data, dict):
        return data, {}
    marked = orjson.loads(_SURROGATE_ESCAPE.sub(_stand_in, text))
    unreadable = {
        name: _as_sent(value, marked[name])
        for name, value in data.items()
        if isinstance(value, str) and value != marked[name]
    }
    return data, unreadable


def _as_sent(replaced: str, marked: str) -> str:
    """The field with its lone surrogates back: where the two readings differ (``replaced`` has
    U+FFFD, ``marked`` a stand-in)."""
    pieces, start = [], 0
    for found in _REPLACEMENT.finditer(replaced):
        at = found.start()
        if marked[at] != "\ufffd":
            pieces += [replaced[start:at], chr(ord(marked[at]) - _STAND_IN)]
            start = at + 1
    return "".join(pieces) + replaced[start:]


def _replacement_escape(match: re.Match[str]) -> str:
    escaped_backslashes, _, low_after_high, _ = match.groups()
    if low_after_high is not None:  # a pair: one character
        return match.group(0)
    return escaped_backslashes + "\\ufffd"


def _stand_in(match: re.Match[str]) -> str:
    escaped_backslashes, high, low_after_high, low = match.groups()
    if low_after_high is not None:  # a pair: one character
        return match.group(0)
    return escaped_backslashes + chr(int(high or low, 16) + _STAND_IN)


# a key where a JSON object starts or goes on (a key inside a string has its quotes escaped),
# and one written with a \u escape ("t\u0065xt" is "text")
_KEY_WITH_ESCAPE = re.compile(rb'[{,]\s*"[^"\\]*\\u')


def repeated_field(raw: bytes, names: Iterable[str]) -> str | None:
    """Which field ``raw`` gives twice at its top level, if any. JSON parsers differ on which
    copy wins (orjson and Python take the last, others the first), so ``{"text": "<scam>",
    "text": "see you at 7"}`` was moderated as the greeting while a first-wins reader showed
    the scam. A byte count per field finds candidates (a field's name in quotes twice, at any
    depth or as a value: inside a string its quotes are escaped), and a search for a key written
    with an escape runs only when the event holds one; only then is the event parsed again, by
    Python's parser, which shows every pair."""
    if all(raw.count(name) <= 1 for name in _quoted_names(tuple(names))) and (
        b"\\u" not in raw or _KEY_WITH_ESCAPE.search(raw) is None
    ):
        return None
    collecting = gc.isenabled()
    # the parse makes up to 50,000 short-lived containers, and each few hundred of them set off
    # the garbage collector over the whole process: 128 ms instead of 12 for the worst event
    gc.disable()
    try:  # objects kept as their pairs: the outermost's are the top-level fields, in order
        parsed = json.loads(raw, object_pairs_hook=_as_pairs)
    except (ValueError, RecursionError):
        return None  # orjson read it; what Python cannot read shows no field given twice
    finally:
        if collecting:
            gc.enable()
    counts = Counter(key for key, _ in parsed) if isinstance(parsed, list) else Counter()
    twice = sorted(key for key, n in counts.items() if n > 1)
    if not twice:
        return None
    return f"field {_shown(twice[0])} is given {counts[twice[0]]} times; parsers differ on which counts"


@functools.lru_cache(maxsize=64)
def _quoted_names(names: tuple[str, ...]) -> tuple[bytes, ...]:
    """The field names :func:`repeated_field` counts, quoted and encoded once per kind (built
    for every event, they were about a quarter of the check's time)."""
    return tuple(f'"{name}"'.encode() for name in dict.fromkeys((*names, "type", "event_id")))


def _as_pairs(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return items


def too_many_containers(raw: bytes) -> Rejected | None:
    """Why ``raw`` is refused before it is parsed: more than ``MAX_CONTAINERS`` arrays and
    objects (an upper bound: brackets inside strings count too)."""
    found = raw.count(b"[") + raw.count(b"{")
    if found <= MAX_CONTAINERS:
        return None
    return Rejected(
        "oversize_event", f"{found} arrays and objects; the limit is {MAX_CONTAINERS:,}"
    )


def decode_strike(
    raw: bytes | None, key: bytes | None, *, max_id_chars: int
) -> dict[str, Any] | Rejected:
    """Validate one strike signal from ``account.strikes``, a topic anyone with access can write.

    Only the fields the strikes table uses are checked; the key, when set, must be the account
    (the table is partitioned by it)."""
    if raw is None:
        return Rejected("empty_value", "the message has no value (a tombstone?)")
    crowded = too_many_containers(raw)
    if crowded is not None:
        return crowded
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected("malformed_json", f"not valid JSON: {exc}")
    if not isinstance(data, dict):
        return Rejected("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    event_id = _quotable_id(data, max_id_chars)
    problem = _check_fields(data, STRIKE_SPECS, max_id_chars)
    if problem is not None:
        return Rejected(problem[0], problem[1], event_id)
    data = without_nulls(data)
    weight = float(data["weight"])
    if not 0.0 <= weight <= MAX_STRIKE_WEIGHT:  # also refuses NaN
        return Rejected(
            "invalid_value", f"weight {weight!r} is outside 0..{MAX_STRIKE_WEIGHT:g}", event_id
        )
    if len(data["categories"]) > MAX_STRIKE_CATEGORIES:
        return Rejected(
            "invalid_value",
            f"{len(data['categories'])} categories; the limit is {MAX_STRIKE_CATEGORIES}",
            event_id,
        )
    if any(len(category) > max_id_chars for category in data["categories"]):
        return Rejected("oversize_field", f"a category is over {max_id_chars} characters", event_id)
    if key is not None and key != data["account_id"].encode():
        return Rejected(
            "invalid_value", "the key is not the signal's account_id (the table's key)", event_id
        )
    if data.get("kind") == "report":  # counted once per reporter: both ids are needed
        for name in ("reporter_id", "report_id"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                return Rejected("missing_field", f"a report signal needs a string {name}", event_id)
            if len(value) > max_id_chars:
                return Rejected(
                    "oversize_field", f"{name} is over {max_id_chars} characters", event_id
                )
    return data


STRIKE_SPECS: dict[str, FieldSpec] = {
    "signal_id": FieldSpec((str,), True),
    "event_id": FieldSpec((str,), True),
    "account_id": FieldSpec((str,), True),
    "categories": FieldSpec((list,), True, item_type=str),
    "weight": FieldSpec((int, float), True),
    "kind": FieldSpec((str,), False),
    "at": FieldSpec((int, float), False),
    "content": FieldSpec((str,), False),
}


def check_categories(label: Event, known: Sequence[str]) -> Rejected | None:
    """A moderator label naming a category the serving model does not know is a mistake (a typo
    would otherwise become a new category in the next training run)."""
    unknown = sorted(set(label.data["categories"]) - set(known))
    if not unknown:
        return None
    shown = ", ".join(_shown(name) for name in unknown[:5])
    return Rejected(
        "unknown_category",
        f"categories {shown} are not in the taxonomy ({', '.join(known)})",
        label.event_id,
    )


def _quotable_id(
    data: dict[str, Any], max_id_chars: int, unreadable: Mapping[str, str] = MappingProxyType({})
) -> str | None:
    """The event id a dead letter may carry: an over-long one cut (it is itself the problem),
    none where it held a lone surrogate (replaced, it would name another event) or a character
    that does not show (it would reach logs and terminals as it is; the error quotes it
    escaped)."""
    value = data.get("event_id")
    if not isinstance(value, str) or "event_id" in unreadable:
        return None
    cut = value[:max_id_chars]
    return cut if not cut or cut.isprintable() or not any(map(refused, cut)) else None


def _shown(value: object) -> str:
    """``repr`` of an offending value, cut so that an error message stays small."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text)} chars)"


def without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without its top-level nulls. The checks read an optional field that is null as
    absent; what reads the record afterwards must too (``"at" in strike`` then
    ``float(strike["at"])`` stopped account enforcement on ``"at": null``)."""
    if None not in data.values():  # most records: no copy
        return data
    return {name: value for name, value in data.items() if value is not None}


def _check_fields(
    data: dict[str, Any],
    specs: dict[str, FieldSpec],
    max_id_chars: int,
    free_text: tuple[str, ...] = (),
    unreadable: Mapping[str, str] = MappingProxyType({}),
) -> tuple[str, str] | None:
    """The first problem with ``data``'s fields as ``(kind, error)``, or None. ``unreadable``:
    the fields that held a lone surrogate (:func:`lone_surrogates_replaced`), as they were."""
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
                f"field {name!r} is {_shown(value)}; expected one of {', '.join(spec.choices)}",
            )
        if name.endswith("_id") and name in unreadable:
            return (
                "invalid_value",
                f"field {name!r} is {_shown(unreadable[name])}: a lone UTF-16 surrogate is no "
                "character (replaced, this id could equal another)",
            )
        if isinstance(value, str) and name not in free_text and len(value) > max_id_chars:
            kind = "oversize_id" if name.endswith("_id") else "oversize_field"
            return kind, f"field {name!r} has {len(value)} characters; the limit is {max_id_chars}"
        if isinstance(value, str) and name.endswith("_id"):
            problem = id_problem(value)
            if problem is not None:
                shown = f": {_shown(value)}" if value else ""  # repr escapes what does not show
                return "invalid_value", f"field {name!r} {problem}{shown}"
    return None
