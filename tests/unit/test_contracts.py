"""The contracts in code: every output validates against its committed JSON Schema, the committed
``schemas/`` is what the code generates, and the table of event kinds drives decoding, scoring,
topics and ACLs (shown with ``profile.update``, a kind added by one row and its record)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from jsonschema import Draft202012Validator

from chatguard import acls
from chatguard.settings import Settings
from models.policy import Policy, SourceRule, Thresholds
from models.registry import ModelRegistry
from streams import kinds, moderators, topics
from streams.decoding import Event, Rejected, decode
from streams.enforcement import action_record, apply_strike
from streams.model_holder import ModelHolder, ServingModel
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage
from streams.records import (
    Decision,
    LearnedContact,
    ModelUpdate,
    StrikeSignal,
    WeighedReport,
)
from streams.reporters import count_report, stats_record
from streams.reports import report_record, report_strike, verified_record
from streams.schemas import all_schemas, render
from streams.unreadable import UnreadableBatch
from tests.agents.harness import chat

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
# the schema each topic's records follow (reports.by_reporter: by the record's kind)
TOPIC_SCHEMAS = {
    topics.DECISIONS: "decision",
    topics.REVIEW: "decision",
    topics.ENFORCEMENT: "decision",
    topics.DEAD_LETTER: "dead_letter",
    topics.ACCOUNT_STRIKES: "strike_signal",
    topics.ACCOUNT_ACTIONS: "account_action",
    topics.MODEL_UPDATES: "model_update",
    topics.REPORTER_STATS: "reporter_stats",
    topics.CONTACTS_BLOCKED: "blocked_contact",
    topics.CAMPAIGN_FINGERPRINTS: "campaign_fingerprints",
    topics.CAMPAIGN_MEMBERS: "campaign_member",
    topics.CAMPAIGNS: "campaign",
}
# events.by_id: moderated events, reports and confirmations, by the record's kind
BY_EVENT_KINDS = {
    "seen": "seen_events",
    "report": "weighed_report",
    "confirmation": "confirmed_report",
}
BY_REPORTER_KINDS = {
    "report": "report_record",
    "outcome": "report_outcome",
    "verified": "verified_report",
}
SCAM = "Your bank account is locked, verify now at http://secure-bank.top or lose your money"
HMAC_KEY = b"moderator-key-for-tests"


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(name: str, value: Any) -> None:
    """``value`` as it goes on the wire (orjson) validates against schema ``name``."""
    wire = orjson.loads(orjson.dumps(value))
    errors = [error.message for error in validator(name).iter_errors(wire)]
    assert not errors, (name, wire, errors)


class RecordingSink:
    """Collects what the pipeline hands over, as logical topic → decoded JSON values."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        self.sent.extend(records)

    async def delivered(self) -> None:
        """Everything handed over is "delivered": it is in the list."""

    def on(self, logical: str) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.sent if r.topic == logical]


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({"CHATGUARD_CAMPAIGNS": "on"})  # every output kind, campaigns too


@pytest.fixture
def pipeline(settings: Settings, default_model_registry: ModelRegistry) -> ModerationPipeline:
    """The real pipeline and the seed model; fixed thresholds (fraud blocks at 0.5), and every
    event of the ``profile`` policy source reviewed for spam, so that the source shows."""
    model = default_model_registry.load_current()
    thresholds = {label: Thresholds(review=0.5, block=None) for label in model.labels}
    thresholds["fraud"] = Thresholds(review=0.5, block=0.5)
    every_profile = SourceRule(thresholds={"spam": Thresholds(review=0.0, block=None)})
    policy = Policy(model.labels, thresholds, {"profile": every_profile})
    holder = ModelHolder(settings)
    holder.use(ServingModel(model, policy))
    return ModerationPipeline(settings, holder, RecordingSink())


def sent(pipeline: ModerationPipeline) -> RecordingSink:
    assert isinstance(pipeline.sink, RecordingSink)
    return pipeline.sink


def profile(event_id: str, nickname: str, bio: str, **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "type": "profile.update",
            "event_id": event_id,
            "account_id": f"acct-{event_id}",
            "nickname": nickname,
            "bio": bio,
            "updated_at": 1_700_000_000.0,
            **extra,
        }
    )


def raw(topic: str, offset: int, value: bytes | None, key: bytes | None = b"k") -> RawMessage:
    return RawMessage(topic, 0, offset, key, value)


def test_the_committed_schemas_are_what_the_code_generates() -> None:
    generated = all_schemas()
    committed = {path.name for path in SCHEMAS.glob("*.json")}
    assert committed == set(generated), "run: python -m streams.schemas schemas"
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text() == render(schema), f"{name} is stale"
    for kind in kinds.KINDS:  # every incoming kind and every output has one
        assert f"{kind.event_type}.schema.json" in committed
    for name in TOPIC_SCHEMAS.values():
        assert f"{name}.schema.json" in committed


async def test_every_output_of_a_real_batch_validates_against_its_schema(
    pipeline: ModerationPipeline, settings: Settings
) -> None:
    batch = [
        raw(topics.CHAT_MESSAGES, 0, chat("clean", "thanks, see you tomorrow")),
        raw(topics.CHAT_MESSAGES, 1, chat("scam", SCAM)),
        raw(topics.CHAT_MESSAGES, 2, b'{"type": "chat.message", "text": '),
        raw(topics.CHAT_MESSAGES, 3, b"\xff\xfe", key=None),
        raw(kinds.topic_of("profile.update"), 0, profile("p1", "Bank support", SCAM)),
    ]
    await pipeline.moderate(batch)
    report = {
        "type": "user.report",
        "report_id": "r1",
        "reporter_id": "reporter-1",
        "event_id": "scam",
        "account_id": "acct-scam",
        "reason": "scam",
        "reported_at": 1_700_000_001.0,
    }
    await pipeline.reports([raw(topics.USER_REPORTS, 0, orjson.dumps(report))])
    confirmed = moderators.decision_record(
        HMAC_KEY, report, outcome="confirm", moderator_id="mod-1", at=time.time()
    )
    forged = {**confirmed, "outcome": "reject"}  # the signature no longer matches
    await pipeline.moderator_decisions(
        [
            raw(topics.MODERATOR_DECISIONS, 0, orjson.dumps(confirmed)),
            raw(topics.MODERATOR_DECISIONS, 1, orjson.dumps(forged)),
        ],
        (HMAC_KEY,),
    )
    unreadable = UnreadableBatch(TopicPartition(topics.POSTS, 3), 10, 12, "CorruptRecordException")
    await pipeline.dead_letter(unreadable.source(), unreadable.rejected())

    sink = sent(pipeline)
    checked: dict[str, int] = {}
    for record in sink.sent:  # every record the pipeline wrote has a schema, and follows it
        topic = topics.logical_name(settings, record.topic)
        value = orjson.loads(record.value)
        if topic == topics.REPORTS_BY_REPORTER:
            assert_valid(BY_REPORTER_KINDS[value["kind"]], value)
        elif topic == topics.EVENTS_BY_ID:
            assert_valid(BY_EVENT_KINDS[value["kind"]], value)
        else:
            assert_valid(TOPIC_SCHEMAS[topic], value)
        checked[topic] = checked.get(topic, 0) + 1
    # nothing vacuous: every output the pipeline writes was there to check
    assert checked[topics.DECISIONS] == 3
    assert checked[topics.ENFORCEMENT] == 2  # the scam chat and the scam profile
    # two blocks; the confirmed report goes to its event's partition first
    assert checked[topics.ACCOUNT_STRIKES] == 2
    assert checked[topics.DEAD_LETTER] == 4  # malformed, invalid UTF-8, forged, unreadable
    assert checked[topics.REPORTS_BY_REPORTER] == 2  # the report and the confirmation's outcome
    assert checked[topics.EVENTS_BY_ID] >= 2 and checked[topics.CONTACTS_BLOCKED] >= 1
    assert checked[topics.CAMPAIGN_FINGERPRINTS] >= 8  # the scam, once per band
    kinds_struck = sorted(s["kind"] for s in sink.on(settings.topic(topics.ACCOUNT_STRIKES)))
    assert kinds_struck == ["block", "block"]
    [confirmation] = [
        r for r in sink.on(settings.topic(topics.EVENTS_BY_ID)) if r["kind"] == "confirmation"
    ]
    assert confirmation["strike"]["kind"] == "confirmed"


def test_outputs_built_outside_the_pipeline_validate_against_their_schemas() -> None:
    strikes = [
        report_strike(orjson.loads(orjson.dumps(report_record(_report(i)))), 0.5) for i in range(2)
    ]
    strikes += [StrikeSignal.reported("r9", "rep-9", "evt-9", "acct-x", "fraud", 0.5, 3.0)]
    state: dict[str, Any] = {}
    actions = []
    for strike in strikes:
        assert_valid("strike_signal", strike)
        state, action = apply_strike(
            state, orjson.loads(orjson.dumps(strike)), restrict_at=3, suspend_at=6, review_at=1.0
        )
        if action is not None:
            actions.append(action_record("acct-x", action, state, 0.0, 1.0))
    assert [a.action for a in actions] == ["review_account"]
    assert_valid("account_action", actions[0])
    restrict = action_record("acct-x", "restrict", {"strikes": 3.0, "evidence": ["e"]}, 0.0, 1.0)
    assert_valid("account_action", restrict)
    assert_valid("reporter_stats", stats_record("rep-1", count_report({}), 2.0))
    assert_valid("model_update", ModelUpdate.model("host:1", "v1", 2.0))
    assert_valid("model_update", ModelUpdate.rules("host:1", "fleet-1", 2.0))
    # read back from its topic (with a field a report does not have), then weighed
    read_back = {**orjson.loads(orjson.dumps(report_record(_report(3)))), "extra": 1}
    assert_valid("weighed_report", WeighedReport.of(read_back, 0.75))
    assert_valid("verified_report", verified_record(read_back))
    assert_valid(
        "learned_contact", LearnedContact.teach("x.top", "domains", "fraud", (5, 3), 0, 60)
    )


def test_a_schema_refuses_a_record_that_breaks_the_contract() -> None:
    """The schemas are strict enough to catch drift: a renamed, missing or mistyped field."""
    decision = Decision(
        "e1", "chat.message", "a1", "chat.messages", 0, 1, "allow", {"spam": 0.1}, (), (), "v",
        "p", 1.0,
    )  # fmt: skip
    assert_valid("decision", decision)
    wire = orjson.loads(orjson.dumps(decision))
    schema = validator("decision")
    assert not schema.is_valid({**wire, "verdict": "allow"})  # a field nobody documented
    assert not schema.is_valid({k: v for k, v in wire.items() if k != "scores"})
    assert not schema.is_valid({**wire, "action": "delete"})
    assert not schema.is_valid({**wire, "source_offset": "1"})


def _report(n: int) -> dict[str, Any]:
    return {
        "report_id": f"r{n}",
        "reporter_id": f"reporter-{n}",
        "event_id": f"evt-{n}",
        "account_id": "acct-x",
        "reason": "fraud",
        "reported_at": 1.0,
    }


# -- the table of event kinds --------------------------------------------------------------------


def test_the_kinds_table_declares_the_input_topics_subscriptions_and_grants() -> None:
    profile_topic = kinds.topic_of("profile.update")
    assert profile_topic == "profile.updates"
    assert topics.INPUTS == kinds.INPUT_TOPICS and profile_topic in topics.ALL
    assert set(kinds.SCORED_TOPICS) == {topics.CHAT_MESSAGES, topics.POSTS, profile_topic}
    assert sorted(kinds.SCORED_TYPES) == ["chat.message", "post", "profile.update"]
    grants = {(g.role, name) for g in acls.grants("", "app") for name in g.names}
    assert ("producer", profile_topic) in grants and ("worker", profile_topic) in grants
    assert ("moderation", profile_topic) not in grants
    assert ("producer", topics.MODERATOR_LABELS) not in grants


def test_a_profile_update_is_decoded_with_its_account_text_and_policy_source() -> None:
    def decoded(value: bytes, topic: str = "profile.updates") -> Event | Rejected:
        return decode(value, topic, max_event_bytes=1 << 20, max_text_chars=2_000)

    event = decoded(profile("p1", "Lucky Li", "daily bonus, add me"))
    assert isinstance(event, Event)
    assert (event.event_type, event.account_id, event.source) == (
        "profile.update",
        "acct-p1",
        "profile",
    )
    assert event.text == "Lucky Li\ndaily bonus, add me"
    no_bio = decoded(orjson.dumps({**orjson.loads(profile("p2", "Li", "")), "bio": None}))
    assert isinstance(no_bio, Event) and no_bio.text == "Li"
    # a bio is free text: longer than an id may be, bounded only by the text limit
    long_bio = decoded(profile("p3", "Li", "x" * 1_000))
    assert isinstance(long_bio, Event)
    too_long = decoded(profile("p4", "Li", "x" * 2_000))
    assert isinstance(too_long, Rejected) and too_long.kind == "oversize_text"
    # a blank nickname leaves the bio to score: its dead letter let a spam bio through unscored
    blank_nickname = decoded(profile("p5", "  ", "daily bonus, add me"))
    assert isinstance(blank_nickname, Event) and blank_nickname.text == "daily bonus, add me"
    blank = decoded(profile("p5", "  ", "\u3000"))
    assert isinstance(blank, Rejected) and blank.kind == "empty_text"
    assert "nickname and bio" in blank.error
    elsewhere = decoded(profile("p6", "Li", "hello"), topic=topics.CHAT_MESSAGES)
    assert isinstance(elsewhere, Rejected) and elsewhere.kind == "unknown_type"
    untyped = orjson.loads(profile("p7", "Li", "hi"))
    del untyped["type"]  # the topic's kind
    event = decoded(orjson.dumps(untyped))
    assert isinstance(event, Event) and event.event_type == "profile.update"


async def test_a_profile_update_with_a_scam_bio_is_decided_by_the_pipeline(
    pipeline: ModerationPipeline, settings: Settings
) -> None:
    profile_topic = settings.topic(kinds.topic_of("profile.update"))
    await pipeline.moderate(
        [
            raw(profile_topic, 0, profile("scam", "Bank support", SCAM)),
            raw(profile_topic, 1, profile("clean", "Mia", "runner, cat person")),
        ]
    )
    decisions = {d["event_id"]: d for d in sent(pipeline).on(settings.topic(topics.DECISIONS))}
    assert set(decisions) == {"scam", "clean"}
    scam, clean = decisions["scam"], decisions["clean"]
    assert scam["event_type"] == "profile.update" and scam["account_id"] == "acct-scam"
    assert scam["action"] == "block" and "fraud" in scam["triggered"]
    assert scam["excerpt"].startswith("Bank support\nYour bank account")
    assert scam["source_topic"] == profile_topic
    # judged under the "profile" policy source: a chat message with its text is allowed
    assert clean["action"] == "review" and clean["triggered"] == ["spam"]
    await pipeline.moderate(
        [raw(settings.topic(topics.CHAT_MESSAGES), 0, chat("c", "Mia\nrunner, cat person"))]
    )
    assert sent(pipeline).on(settings.topic(topics.DECISIONS))[-1]["action"] == "allow"
    strikes = sent(pipeline).on(settings.topic(topics.ACCOUNT_STRIKES))
    assert [(s["kind"], s["account_id"]) for s in strikes] == [("block", "acct-scam")]
