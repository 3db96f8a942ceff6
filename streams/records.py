"""The records on chatguard's topics: what comes in (Faust records) and what goes out (frozen
dataclasses). ``schemas/*.json`` is generated from them (``python -m streams.schemas schemas``).

Incoming: the hot path does not build a record per event; ``streams.decoding`` checks the decoded
JSON against field specs taken from these records (:func:`field_specs`, tabled per event kind in
``streams.kinds``) with plain code, which is several times cheaper. Outgoing: each record is built
in one place and written with ``orjson.dumps(record)``, which serializes a dataclass directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import faust

from models.policy import Action

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


class ProfileUpdate(faust.Record, serializer="json", validation=True):
    """An account's new nickname and bio (``type: "profile.update"``); both are scored."""

    event_id: str
    account_id: str
    nickname: str
    updated_at: float
    bio: str = ""


# -- outputs: what chatguard writes. Frozen dataclasses, each built in the one place its docstring
# names and serialized as it is with ``orjson.dumps(record)``, which writes the fields in order.
# Not slotted: orjson writes a slotted dataclass field by field, 2.7x slower than one with a
# ``__dict__`` (measured: ``benchmarks/decisions.py``), and a decision is written for every event.

T = TypeVar("T")


def assemble(record_type: type[T], fields: dict[str, Any]) -> T:
    """A frozen record from ``fields`` (every field, in order) without the generated
    ``__init__``, which sets each field through ``object.__setattr__``: on the hot path that
    cost more than building and serializing the record. Equal to ``record_type(**fields)``."""
    record = object.__new__(record_type)
    object.__setattr__(record, "__dict__", fields)
    return record


@dataclass(frozen=True)
class Decision:
    """What chatguard decided for one event (``moderation.decisions``, and ``.review`` /
    ``.enforcement`` for those actions). ``event_id`` is the key of truth for de-duplication.
    Built by ``streams.decide.build_decisions``; the rules replace it (``dataclasses.replace``)."""

    event_id: str
    event_type: str
    account_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    action: Action
    scores: dict[str, float]
    triggered: tuple[str, ...]
    reasons: tuple[str, ...]
    model_version: str
    policy_version: str
    decided_at: float
    excerpt: str = ""
    rules_version: str = ""  # the rules file applied (models.rules); reasons name rule:<id>
    campaign_id: str | None = None  # the live campaign it belongs to (models.campaigns)


@dataclass(frozen=True)
class DeadLetter:
    """An input that could not be moderated, kept with the reason (``moderation.deadletter``).
    Built by ``ModerationPipeline.dead_letter_record``, which cuts it to fit in one record."""

    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None  # base64 of the raw key (its first max_key_bytes bytes)
    raw: str  # base64 of the raw value (its first DEAD_LETTER_RAW_BYTES bytes)
    error_kind: str
    error: str
    failed_at: float
    event_id: str | None
    raw_size: int  # bytes in the raw value
    raw_truncated: bool  # the whole value stays at source_topic/partition/offset
    key_size: int
    key_truncated: bool


StrikeKind = Literal["block", "report", "confirmed"]


def text_digest(text: str) -> str:
    """16 hex digits that tell one event's text from another's under the same event id."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True)
class StrikeSignal:
    """Evidence against an account on ``account.strikes`` (keyed by the account): a blocked
    event, a verified user report (review evidence only) or a report a moderator confirmed.
    ``signal_id`` makes a replayed signal count once. Built only by the classmethods below."""

    signal_id: str
    kind: StrikeKind
    event_id: str
    account_id: str
    categories: tuple[str, ...]
    weight: float
    at: float
    report_id: str = ""  # report, confirmed
    reporter_id: str = ""  # report, confirmed
    moderator_id: str = ""  # confirmed
    content: str = ""  # block: digest of the event's text (streams.enforcement says why)

    @classmethod
    def blocked(cls, decision: Decision, text: str) -> StrikeSignal:
        """A blocked event: one strike, once per event (its id and its ``text``)."""
        content = text_digest(text)
        return cls(
            f"block:{decision.event_id}:{content}",
            "block",
            decision.event_id,
            decision.account_id,
            decision.triggered,
            1.0,
            decision.decided_at,
            content=content,
        )

    @classmethod
    def reported(
        cls,
        report_id: str,
        reporter_id: str,
        event_id: str,
        account_id: str,
        category: str,
        weight: float,
        at: float,
    ) -> StrikeSignal:
        """A verified, unconfirmed report, weighed by its reporter's reliability."""
        return cls(
            f"report:{report_id}",
            "report",
            event_id,
            account_id,
            (category,),
            weight,
            at,
            report_id=report_id,
            reporter_id=reporter_id,
        )

    @classmethod
    def confirmed(
        cls,
        report_id: str,
        reporter_id: str,
        event_id: str,
        account_id: str,
        categories: tuple[str, ...],
        weight: float,
        moderator_id: str,
        at: float,
    ) -> StrikeSignal:
        """A report a moderator confirmed: the event counts once however many reports of it are."""
        return cls(
            f"confirmed:{event_id}",
            "confirmed",
            event_id,
            account_id,
            categories,
            weight,
            at,
            report_id=report_id,
            reporter_id=reporter_id,
            moderator_id=moderator_id,
        )


AccountActionKind = Literal["review_account", "restrict", "suspend"]


@dataclass(frozen=True)
class AccountAction:
    """Enforcement against an account that crossed a strike threshold, emitted once per level
    (``account.actions``). Built by ``streams.enforcement.action_record``."""

    action_id: str
    account_id: str
    action: AccountActionKind
    strikes: float
    categories: dict[str, float]  # review_account: report weights per reported category
    evidence: tuple[str, ...]  # event ids: struck events (restrict, suspend) or reported events
    window_start: float
    decided_at: float
    report_score: float = 0.0  # review_account: the reporters' reliabilities added up
    reports: tuple[str, ...] = ()  # review_account: the report ids
    reporters: tuple[str, ...] = ()  # review_account: the reporters
    reason: str = ""  # sender behaviour: why, in words ("same text to 5 conversations ...")
    # sender behaviour: the account's counts in the window (messages, per_minute,
    # conversations, contact_share)
    sender: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class ModelUpdate:
    """A worker announcing the model (``version``) or rules (``rules_version``) it switched to
    (``model.updates``); the other version is null. Built only by the classmethods below."""

    worker: str
    switched_at: float
    version: str | None = None
    rules_version: str | None = None

    @classmethod
    def model(cls, worker: str, version: str, at: float) -> ModelUpdate:
        return cls(worker, at, version=version)

    @classmethod
    def rules(cls, worker: str, rules_version: str, at: float) -> ModelUpdate:
        return cls(worker, at, rules_version=rules_version)


@dataclass(frozen=True)
class ReporterStats:
    """One reporter's record (``reporter.stats``), on every change. Built by
    ``streams.reporters.stats_record``."""

    reporter_id: str
    reports: int  # reports that named a moderated event of the account they accuse
    confirmed: int
    rejected: int
    reliability: float  # (confirmed + 1) / (confirmed + rejected + 2)
    updated_at: float


# -- internal hops: records the worker writes for itself, keyed for the next table's partition


@dataclass(frozen=True)
class SeenEvents:
    """Moderated events and their accounts (``events.by_id``), one record per partition and
    batch, for the recent-events table that reports are checked against. Built by
    ``streams.reports.seen_records``."""

    kind: Literal["seen"]
    events: tuple[tuple[str, str], ...]  # (event_id, account_id)
    at: float


@dataclass(frozen=True)
class ReportRecord:
    """A validated user report on its way to be weighed (``reports.by_reporter``, keyed by
    reporter); the user's ``confirmed`` claim is dropped. Built by
    ``streams.reports.report_record``."""

    kind: Literal["report"]
    report_id: str
    reporter_id: str
    event_id: str
    account_id: str
    reason: str
    category: str  # the reason mapped onto the taxonomy, or "other"
    reported_at: float


class InvalidRecord(ValueError):
    """A record on an internal topic without the fields its kind needs, or with fields of the
    wrong type: forged (anyone with access can write the topic), or a bug."""


def _time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_report_fields(fields: dict[str, Any], weight: Any) -> None:
    """Raise :class:`InvalidRecord` unless ``fields`` are a report's, typed, and ``weight`` a
    finite number. A report read back from ``events.by_id`` with ``"reported_at": null`` made
    a strike signal with ``"at": null``, which stopped account enforcement."""
    for name in ("report_id", "reporter_id", "event_id", "account_id", "reason", "category"):
        if not isinstance(fields.get(name), str):
            msg = f"a report's {name} must be a string, not {type(fields.get(name)).__name__}"
            raise InvalidRecord(msg)
    if not _time(fields.get("reported_at")):
        msg = (
            f"a report's reported_at must be a finite number, not {fields.get('reported_at')!r:.40}"
        )
        raise InvalidRecord(msg)
    if not _time(weight) or weight < 0:
        msg = f"a report's weight must be a finite number >= 0, not {weight!r:.40}"
        raise InvalidRecord(msg)


@dataclass(frozen=True)
class WeighedReport(ReportRecord):
    """A report weighed by its reporter's reliability (``events.by_id``, keyed by event), to be
    checked against the recent-events table. Built by :meth:`of`."""

    weight: float  # the reporter's reliability when the report arrived
    # times ``streams.report_retry`` sent it back because its event was not moderated yet, and
    # how many of those were before the fleet's moderation passed ``waiting_since``
    attempt: int = 0
    waited: int = 0
    waiting_since: float = 0.0  # when it was first checked (0: not yet)

    @classmethod
    def of(
        cls, report: ReportRecord | dict[str, Any], weight: Any, waiting: Waiting | None = None
    ) -> WeighedReport:
        """``report`` (the record, or as read back from its topic) with ``weight``; fields
        that are not a report's are left behind. Raises :class:`InvalidRecord` for a report
        or weight of the wrong shape (both may come from a topic anyone can write)."""
        fields = report if isinstance(report, dict) else dataclasses.asdict(report)
        check_report_fields(fields, weight)
        names = [f.name for f in dataclasses.fields(ReportRecord)]
        return cls(
            **{name: fields[name] for name in names}, weight=weight, **vars(waiting or Waiting())
        )


@dataclass(frozen=True)
class Waiting:
    """How long a report or confirmation has waited for its event
    (``streams.report_retry``)."""

    attempt: int = 0
    waited: int = 0
    waiting_since: float = 0.0


@dataclass(frozen=True)
class RetriedReport(WeighedReport):
    """A weighed report whose event was not moderated yet, waiting on ``reports.retry`` (keyed
    by event) to go back to ``events.by_id`` at ``not_before``. Built by
    ``streams.report_retry.retry_or_refuse``."""

    not_before: float = 0.0


@dataclass(frozen=True)
class ReportOutcome:
    """A moderator's outcome for a report, for its reporter's record (``reports.by_reporter``).
    Built by ``streams.reports.outcome_record``."""

    kind: Literal["outcome"]
    report_id: str
    reporter_id: str
    outcome: Literal["confirm", "reject"]


@dataclass(frozen=True)
class VerifiedReport:
    """A report that named a moderated event of the account it accuses, back to its reporter's
    record (``reports.by_reporter``) to be counted: a report of an event that never existed
    counts nowhere and writes no state. Built by ``streams.reports.verified_record``."""

    kind: Literal["verified"]
    report_id: str
    reporter_id: str


@dataclass(frozen=True)
class ConfirmedReport:
    """A report a moderator confirmed, on its way to its event's partition of ``events.by_id``:
    its strike goes on to ``account.strikes`` only if the recent-events store has the event from
    the account it names. Built by ``streams.reports.confirmation``."""

    kind: Literal["confirmation"]
    report_id: str
    event_id: str
    account_id: str
    strike: StrikeSignal
    # how long it has waited for its event, as a report's (``WeighedReport``)
    attempt: int = 0
    waited: int = 0
    waiting_since: float = 0.0


@dataclass(frozen=True)
class RetriedConfirmation(ConfirmedReport):
    """A confirmation whose event was not moderated yet, waiting on ``reports.retry`` like a
    report. Built by ``streams.report_retry.retry_or_refuse``."""

    not_before: float = 0.0


@dataclass(frozen=True)
class BlockedContact:
    """A contact token in a blocked event (``contacts.blocked``, keyed by the token): evidence
    for the learned list. Built by ``streams.learned_list.evidence_records``."""

    kind: Literal["blocked_contact"]
    token: str
    token_kind: str
    account_id: str
    event_id: str
    category: str
    at: float


@dataclass(frozen=True)
class LearnedContact:
    """A contact token every worker blocks until ``expires_at`` (``moderation.learned``,
    keyed by the token), learned from blocked events. Built by :meth:`teach`."""

    kind: Literal["learned_contact"]
    token: str
    token_kind: str
    category: str
    learned_at: float
    expires_at: float
    events: int  # blocked events that carried it in the window
    accounts: int  # distinct accounts that sent them

    @classmethod
    def teach(
        cls,
        token: str,
        token_kind: str,
        category: str,
        evidence: tuple[int, int],
        now: float,
        ttl_s: float,
    ) -> LearnedContact:
        events, accounts = evidence
        return cls(
            "learned_contact", token, token_kind, category, now, now + ttl_s, events, accounts
        )


# one fingerprinted event on one partition of campaign.fingerprints: event id, account,
# conversation, flagged (the model or a rule said review or block, before any campaign
# escalation), blocked, contact tokens, all its band keys, and the indexes of those counted on
# this partition (the ones that hash to it)
FingerprintedEvent = tuple[
    str, str, str, bool, bool, tuple[str, ...], tuple[str, ...], tuple[int, ...]
]


@dataclass(frozen=True)
class CampaignFingerprints:
    """The fingerprinted events of one batch that have a band key on one partition of
    ``campaign.fingerprints`` (keyed by one of those keys, so it lands there), with the keys to
    count there: every near-duplicate with a band key meets on that key's partition. One record
    per partition and batch, not one per band key: the fold pays per record. Built by
    ``streams.campaigns.fingerprint_records``."""

    kind: Literal["campaign_fingerprints"]
    events: tuple[FingerprintedEvent, ...]
    at: float


@dataclass(frozen=True)
class CampaignRecord:
    """A campaign as one of its bands saw it (``moderation.campaigns``, keyed by the
    band): announced when the band reaches ``CHATGUARD_CAMPAIGN_ACCOUNTS`` accounts, then at
    each doubling, on turning harmful and every half window. Built by
    ``streams.campaigns.campaign_record``."""

    kind: Literal["campaign"]
    campaign_id: str
    band: str
    bands: tuple[str, ...]  # the band keys that stand for the campaign; readers join overlaps
    status: Literal["harmful", "clean"]
    first_seen: float
    last_seen: float
    events: int
    accounts: int
    conversations: int
    flagged_share: float  # of its accounts, those that sent a member flagged
    contacts: tuple[str, ...]  # contact tokens members of two accounts share
    sample_event_id: str
    sample_accounts: tuple[str, ...]
    announced_at: float
    # what a harmful campaign does to its members' accounts (``models.campaigns.member_action``)
    member_action: Literal["restrict", "review_account"] = "review_account"
    blocked_share: float = 0.0  # of its accounts, those that sent a member blocked on its own


@dataclass(frozen=True)
class CampaignMember:
    """An account whose event a harmful campaign escalated (``campaign.members``, keyed by the
    account): the account gets one action per campaign. Built by ``streams.campaigns``."""

    kind: Literal["campaign_member"]
    account_id: str
    campaign_id: str
    event_id: str
    category: str
    at: float
    action: Literal["restrict", "review_account"] = "restrict"


SenderMessage = tuple[str, str, str, str, bool]


@dataclass(frozen=True)
class SenderActivity:
    """Chat messages of the accounts that hash to one partition of ``sender.activity`` (keyed by
    one of those accounts, so every message of an account meets in one table partition), one
    record per partition and batch. Built by ``streams.senders.activity_records``."""

    kind: Literal["sender_activity"]
    # (event_id, account_id, conversation_id, text key (models.senders.text_key; "" for none),
    # whether it carries a contact token or a link)
    messages: tuple[SenderMessage, ...]
    at: float


# every output record, by the name of its schema file (schemas/<name>.schema.json)
OUTPUT_RECORDS: dict[str, type] = {
    "decision": Decision,
    "dead_letter": DeadLetter,
    "strike_signal": StrikeSignal,
    "account_action": AccountAction,
    "model_update": ModelUpdate,
    "reporter_stats": ReporterStats,
    "seen_events": SeenEvents,
    "report_record": ReportRecord,
    "report_outcome": ReportOutcome,
    "verified_report": VerifiedReport,
    "confirmed_report": ConfirmedReport,
    "retried_confirmation": RetriedConfirmation,
    "blocked_contact": BlockedContact,
    "weighed_report": WeighedReport,
    "retried_report": RetriedReport,
    "learned_contact": LearnedContact,
    "campaign_fingerprints": CampaignFingerprints,
    "campaign": CampaignRecord,
    "campaign_member": CampaignMember,
    "sender_activity": SenderActivity,
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of an incoming event: its JSON type(s), whether required, allowed values."""

    types: tuple[type, ...]
    required: bool
    choices: tuple[str, ...] = ()
    item_type: type | None = None


def field_specs(
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
