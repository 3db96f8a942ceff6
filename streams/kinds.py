"""The table of incoming event kinds: one row per kind, and everything derived from it.

A row says which topic carries the kind, its record (the fields and their types), whether it is
scored, which field names its account, which free-text fields make the text the model scores,
the policy source its decisions are judged under, and who may write its topic. Decoding
(``streams.decoding``), scoring (``streams.pipeline``), the input topics (``streams.topics``),
both ingest paths' subscriptions and the ACLs (``chatguard.acls``) read it from here, so adding a
scored kind is one row in :data:`KINDS` and its record in ``streams.records``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal

import faust

from streams.records import (
    ACCOUNT_TYPES,
    POST_KINDS,
    ChatMessage,
    FieldSpec,
    ModeratorDecision,
    ModeratorLabel,
    Post,
    ProfileUpdate,
    UserReport,
    field_specs,
)

Writer = Literal["platform", "moderation"]
TextBuilder = Callable[[Mapping[str, Any]], str]
PolicySource = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class EventKind:
    """One kind of incoming event. Every kind carries a string ``event_id``."""

    event_type: str  # the event's "type" field; an event without one gets its topic's first kind
    topic: str  # the logical input topic (``CHATGUARD_TOPIC_PREFIX`` is prepended)
    record: type[faust.Record]
    scored: bool  # decided by the moderation pipeline; the others have agents of their own
    account_field: str | None  # the field naming the account the event is by or about
    # free-text fields: bounded by max_text_chars (as the built text), not max_id_chars; a
    # required one must not be blank
    text_fields: tuple[str, ...]
    text: TextBuilder  # the text the model scores, from those fields
    # the policy source its decisions are judged under (models.policy): a name, or a function
    # of the event
    source: str | PolicySource
    writer: Writer  # who may write its topic when the broker enforces ACLs
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # derived from the record: its field specs, and the text fields that must not be blank
    specs: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)
    required_text: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        specs = field_specs(self.record, dict(self.choices))
        object.__setattr__(self, "specs", specs)
        required = tuple(name for name in self.text_fields if specs[name].required)
        object.__setattr__(self, "required_text", required)
        if self.account_field is not None and not specs[self.account_field].required:
            raise ValueError(f"{self.event_type}: the account field must be required")


def no_text(_data: Mapping[str, Any]) -> str:
    return ""


def lines(first: str, second: str) -> TextBuilder:
    """Two text fields, one per line; an empty, blank or missing one is left out."""

    def text(data: Mapping[str, Any]) -> str:
        head, tail = (
            v if isinstance(v, str) and v.strip() else "" for v in map(data.get, (first, second))
        )
        return f"{head}\n{tail}" if head and tail else head or tail

    return text


def post_source(data: Mapping[str, Any]) -> str:
    """The policy source of a post: ads first, then non-personal accounts, then the post kind."""
    if data["post_kind"] == "ad":
        return "post:ad"
    if data["account_type"] != "personal":
        return f"account:{data['account_type']}"
    return f"post:{data['post_kind']}"


KINDS: tuple[EventKind, ...] = (
    EventKind(
        "chat.message", "chat.messages", ChatMessage, True, "sender_id",
        ("text",), itemgetter("text"), "chat", "platform",
    ),
    EventKind(
        "post", "posts", Post, True, "account_id",
        ("title", "text"), lines("title", "text"), post_source, "platform",
        {"account_type": ACCOUNT_TYPES, "post_kind": POST_KINDS},
    ),
    EventKind(
        "profile.update", "profile.updates", ProfileUpdate, True, "account_id",
        ("nickname", "bio"), lines("nickname", "bio"), "profile", "platform",
    ),
    # not scored: reports and moderators' records have agents of their own (streams.agents)
    EventKind(
        "user.report", "user.reports", UserReport, False, "account_id",
        (), no_text, "user.report", "platform",
    ),
    EventKind(
        "moderator.label", "moderator.labels", ModeratorLabel, False, None,
        ("text",), itemgetter("text"), "moderator.label", "moderation",
    ),
    EventKind(
        "moderator.decision", "moderator.decisions", ModeratorDecision, False, "account_id",
        (), no_text, "moderator.decision", "moderation", {"outcome": ("confirm", "reject")},
    ),
)  # fmt: skip

BY_TYPE: dict[str, EventKind] = {kind.event_type: kind for kind in KINDS}
FIELD_SPECS: dict[str, dict[str, FieldSpec]] = {kind.event_type: kind.specs for kind in KINDS}
# the event types each input topic may carry; an event without "type" gets the first
TOPIC_EVENT_TYPES: dict[str, tuple[str, ...]] = {}
for _kind in KINDS:
    TOPIC_EVENT_TYPES[_kind.topic] = (*TOPIC_EVENT_TYPES.get(_kind.topic, ()), _kind.event_type)
INPUT_TOPICS: tuple[str, ...] = tuple(TOPIC_EVENT_TYPES)
SCORED_TYPES: frozenset[str] = frozenset(kind.event_type for kind in KINDS if kind.scored)
# what the moderation pipeline subscribes to, on either ingest path
SCORED_TOPICS: tuple[str, ...] = tuple(dict.fromkeys(k.topic for k in KINDS if k.scored))
PLATFORM_TOPICS: tuple[str, ...] = tuple(
    dict.fromkeys(k.topic for k in KINDS if k.writer == "platform")
)
MODERATION_TOPICS: tuple[str, ...] = tuple(
    dict.fromkeys(k.topic for k in KINDS if k.writer == "moderation")
)


# a record without free text (a report, a moderator's decision) holds ids and short fields, each
# at most max_id_chars characters of at most 6 bytes in JSON (a \u escape): 64 bytes per
# character leaves room for ten of them, their names and a few fields a producer adds
TEXTLESS_BYTES_PER_ID_CHAR = 64


def most_bytes(kind: EventKind, max_event_bytes: int, max_id_chars: int) -> int:
    """The longest record of ``kind`` a reader takes. A kind without free text is bounded by
    its ids: a live flood of 1 MB reports, each refused, held a worker at 1.5 GB while Faust
    buffered them, where reports of the size they can have would cost a hundredth of that."""
    if kind.text_fields:
        return max_event_bytes
    return min(max_event_bytes, TEXTLESS_BYTES_PER_ID_CHAR * max_id_chars)


def most_bytes_by_topic(max_event_bytes: int, max_id_chars: int) -> dict[str, int]:
    """:func:`most_bytes` for each input topic (logical name): the most of its kinds'."""
    limits: dict[str, int] = {}
    for kind in KINDS:
        most = most_bytes(kind, max_event_bytes, max_id_chars)
        limits[kind.topic] = max(limits.get(kind.topic, 0), most)
    return limits


def topic_of(event_type: str) -> str:
    """The logical input topic of ``event_type``."""
    return BY_TYPE[event_type].topic
