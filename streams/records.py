"""Event and decision contracts: what flows on chatguard's topics.

The Faust records below are the documented schema (and the source of ``schemas/*.json``). The hot
path does not build a record per event: ``streams.decoding`` validates the decoded JSON against
the same field specs (``FIELD_SPECS``) with plain code, which is several times cheaper, and the
agents write decisions as JSON with the field names of :class:`Decision`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faust

AccountType = Literal["personal", "public", "official"]
PostKind = Literal["moment", "article", "comment", "ad"]
ACCOUNT_TYPES: tuple[str, ...] = ("personal", "public", "official")
POST_KINDS: tuple[str, ...] = ("moment", "article", "comment", "ad")


class ChatMessage(faust.Record, serializer="json", validation=True):
    """A message in a private or group chat (``type: "chat.message"``)."""

    event_id: str
    conversation_id: str
    sender_id: str
    text: str
    sent_at: float  # unix seconds
    urls: list[str] = []  # noqa: RUF012 - Faust records copy defaults per instance
    attachments: list[str] = []  # noqa: RUF012


class Post(faust.Record, serializer="json", validation=True):
    """A moment, article, comment or ad by an account (``type: "post"``)."""

    event_id: str
    account_id: str
    account_type: str  # personal / public / official
    post_kind: str  # moment / article / comment / ad
    text: str
    created_at: float
    title: str = ""


class UserReport(faust.Record, serializer="json", validation=True):
    """A user reporting an event and its account (``type: "user.report"``)."""

    report_id: str
    reporter_id: str
    event_id: str
    account_id: str
    reason: str
    reported_at: float  # evidence only: a moderator confirms a report on moderator.decisions


class ModeratorLabel(faust.Record, serializer="json", validation=True):
    """A moderator's labels for an event; fed back into training (``type: "moderator.label"``)."""

    event_id: str
    text: str
    categories: list[str]  # [] = the moderator found it clean
    moderator_id: str
    labelled_at: float
    # HMAC-SHA256 of the canonical record (streams.moderators); without it the record is refused
    signature: str = ""


class ModeratorDecision(faust.Record, serializer="json", validation=True):
    """A moderator's outcome for a user report (``type: "moderator.decision"``), signed."""

    report_id: str
    reporter_id: str
    event_id: str
    account_id: str
    reason: str  # the report's reason, as the moderator saw it
    outcome: str  # confirm / reject
    moderator_id: str
    decided_at: float
    categories: list[str] = []  # noqa: RUF012 - what the moderator found (default: the reason)
    # HMAC-SHA256 of the canonical record (streams.moderators); without it the record is refused
    signature: str = ""


class Decision(faust.Record, serializer="json"):
    """What chatguard decided for one event. ``event_id`` is the key of truth for de-duplication."""

    event_id: str
    event_type: str
    account_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    action: str  # allow / review / block
    scores: dict[str, float]
    triggered: list[str]
    reasons: list[str]
    model_version: str
    policy_version: str
    decided_at: float
    excerpt: str = ""
    rules_version: str = ""  # the rules file applied (models.rules); reasons name rule:<id>


class DeadLetter(faust.Record, serializer="json"):
    """An event that could not be moderated, kept whole with the reason."""

    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None  # base64 of the raw key
    raw: str  # base64 of the raw value (its first DEAD_LETTER_RAW_BYTES bytes)
    error_kind: str
    error: str
    failed_at: float
    event_id: str | None = None
    raw_size: int = 0  # bytes in the raw value
    raw_truncated: bool = False  # the whole value stays at source_topic/partition/offset


class AccountAction(faust.Record, serializer="json"):
    """Enforcement against an account that crossed a strike threshold, emitted once per level."""

    action_id: str
    account_id: str
    action: str  # review_account / restrict / suspend
    strikes: float
    categories: dict[str, float]  # review_account: report weights per reported category
    evidence: list[str]  # event ids: struck events (restrict, suspend) or reported events (review)
    window_start: float
    decided_at: float
    report_score: float = 0.0  # review_account: the reporters' reliabilities added up
    reports: list[str] = []  # noqa: RUF012 - review_account: the report ids
    reporters: list[str] = []  # noqa: RUF012 - review_account: the reporters


@dataclass(frozen=True)
class FieldSpec:
    """One field of an incoming event: its JSON type(s), whether required, allowed values."""

    types: tuple[type, ...]
    required: bool
    choices: tuple[str, ...] = ()
    item_type: type | None = None


def _spec(
    record: type[faust.Record], choices: dict[str, tuple[str, ...]] | None = None
) -> dict[str, FieldSpec]:
    """Field specs from a record's annotations, so the record stays the one source of truth."""
    choices = choices or {}
    specs: dict[str, FieldSpec] = {}
    defaults = record._options.defaults
    for name, field in record._options.fields.items():
        origin = getattr(field, "__origin__", field)
        item = None
        if origin is list:
            item = field.__args__[0]
            types: tuple[type, ...] = (list,)
        elif field is float:
            types = (int, float)
        else:
            types = (origin,)
        specs[name] = FieldSpec(types, name not in defaults, choices.get(name, ()), item)
    return specs


EVENT_TYPES: dict[str, type[faust.Record]] = {
    "chat.message": ChatMessage,
    "post": Post,
    "user.report": UserReport,
    "moderator.label": ModeratorLabel,
    "moderator.decision": ModeratorDecision,
}
FIELD_SPECS: dict[str, dict[str, FieldSpec]] = {
    "chat.message": _spec(ChatMessage),
    "post": _spec(Post, {"account_type": ACCOUNT_TYPES, "post_kind": POST_KINDS}),
    "user.report": _spec(UserReport),
    "moderator.label": _spec(ModeratorLabel),
    "moderator.decision": _spec(ModeratorDecision, {"outcome": ("confirm", "reject")}),
}


def json_schema(event_type: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for one incoming event type."""
    names = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array"}
    properties: dict[str, Any] = {"type": {"const": event_type}}
    required = []
    for name, spec in FIELD_SPECS[event_type].items():
        kinds = sorted(
            {names[t] for t in spec.types if t in names}
            - ({"integer"} if float in spec.types else set())
        )
        prop: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
        if spec.item_type is not None:
            prop["items"] = {"type": names[spec.item_type]}
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if name == "text":
            prop["minLength"] = 1
        properties[name] = prop
        if spec.required:
            required.append(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": EVENT_TYPES[event_type].__name__,
        "description": (EVENT_TYPES[event_type].__doc__ or "").strip(),
        "type": "object",
        "properties": properties,
        "required": required,
    }


def write_schemas(folder: Path) -> list[Path]:
    """Write ``schemas/<type>.json`` for every incoming event type."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in EVENT_TYPES:
        path = folder / f"{event_type}.schema.json"
        path.write_text(json.dumps(json_schema(event_type), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m streams.records schemas/
    for written_path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(written_path)
