"""The rules a worker serves, their fleet-wide hot reload, and their effect on decisions.

Rules travel on the single-partition ``moderation.rules`` topic, one record per published
version (key: the version; value: the file's text, its sha256, who published it when), kept for
ever (:func:`ensure_rules_topic`). Every worker reads the topic from the beginning with its own group-less consumer (a
consumer group would hand the partition to one member only, but every worker must switch),
validates each record and serves the newest valid one. The swap is one attribute assignment and
the pipeline reads it once per batch, so a batch is decided under one rules version. A record
that does not validate (published around ``chatguard rules publish``) is logged and skipped: the
previous version keeps serving.

Anyone who can write the topic could otherwise allow-list their own spam, so a record must carry
an Ed25519 signature over its version, the sha256 of its text and the time it was published,
made by ``chatguard rules publish`` with the model signing key; workers verify it with the model
public key they already hold, and refuse (log, ``chatguard_rule_reloads_total{result=
"unsigned|bad_signature"}``, keep the previous version) a record that is unsigned or signed by
another key.

A signed record can still be re-sent, and the topic is compacted by version, so a copy of an old
version's record written later used to be what every worker served, then and after each restart:
whoever could write the topic could roll the fleet back to any version ever published (one with a
rule since withdrawn, or without the one added against today's scam). Versions are now ordered by
their signed publish times, not by offset: a record published before the one served is refused
(``result="stale"``), and a worker starting up serves the newest by that time. ``rollback``
republishes the earlier text under a new time. Records signed before times were signed (without
one) count as older than any timed record, so once a version is published with a time, none of
them can be re-served.

Deleting the newest version rolled the fleet back as well: the topic was compacted by version, and
the log cleaner keeps the last record of each key, signed or not, so a tombstone or any record
written under the served version's key (keys are public) replaced it; every worker started after
the next compaction served the version before (an outside probe: workers of one fleet served two
versions). The topic now deletes nothing (``cleanup.policy=delete``, no retention limit): a
forged record is refused and the signed one stays. A starting worker checks each record's
signature as it reads it and keeps only those that verify: 40 unsigned records of 60 MB of text
(60 KB each on the broker) held together before any was checked took it to 3.6 GB.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import orjson

from chatguard.settings import Settings
from models.errors import ModelError, SignatureInvalid, SignatureMissing
from models.learned import LearnedList
from models.normalize import Analysis
from models.policy import Action
from models.rules import (
    EMPTY,
    Contacts,
    Rule,
    RulesError,
    RuleSet,
    combine,
    known_contacts,
    link_contacts,
    load_rules,
    merged,
)
from models.signing import load_public_key, sign_payload, verify_payload
from streams import kafka_options, metrics, topics
from streams.control_topics import KEPT_FOR_EVER, ensure_control_topic
from streams.decoding import Event
from streams.following import retrying
from streams.learned_list import evidence_records
from streams.model_holder import ServingModel
from streams.records import Decision

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishedRules:
    """One record of the rules topic."""

    offset: int
    version: str
    text: str
    sha256: str
    published_at: float
    published_by: str
    signature: dict[str, str] | None = None


def signed_payload(
    version: str, sha256: str, published_at: float | None = None, published_by: str | None = None
) -> bytes:
    """What a rules signature covers: the version, the sha256 of the file's text, the time it
    was published and who published it (``None``: the earlier forms, which did not cover a
    time, or a publisher)."""
    covered: dict[str, Any] = {"kind": "chatguard.rules", "sha256": sha256, "version": version}
    if published_at is not None:
        covered["published_at"] = published_at
        if published_by is not None:
            covered["published_by"] = published_by
    return orjson.dumps(covered)


class StaleRules(RulesError):
    """A signed record published before the version being served: a re-sent copy."""


class RulesHolder:
    """Holds the serving :class:`RuleSet`; ``offer`` switches to a newer valid, signed version.

    With neither a ``public_key`` nor ``allow_unsigned`` every record is refused (``trust``
    sets them from the settings)."""

    def __init__(
        self, public_key: Ed25519PublicKey | None = None, *, allow_unsigned: bool = False
    ) -> None:
        self.current: RuleSet = EMPTY
        # the signed publish time of the served version; None for none, or one signed without
        self.current_published_at: float | None = None
        self.last_error: str | None = None
        self.next_offset: int | None = None  # of the rules topic, once caught up
        self.public_key = public_key
        self.allow_unsigned = allow_unsigned

    def trust(self, settings: Settings) -> None:
        """Verify with the model public key, or not at all under the development override."""
        self.allow_unsigned = settings.allow_unsigned_rules
        if self.allow_unsigned:
            log.warning(
                "CHATGUARD_ALLOW_UNSIGNED_RULES is on: rules signatures are NOT checked; "
                "anyone who can write the rules topic decides what is allowed"
            )
        elif self.public_key is None:
            self.public_key = load_public_key(settings.model_public_key)

    def _try_trust(self, settings: Settings) -> None:
        try:
            self.trust(settings)
        except ModelError as exc:  # no key: every record is refused, with this reason
            log.error("cannot verify rules, none will be served: %s", exc)

    def check_signature(self, published: PublishedRules) -> float | None:
        """Raise ``SignatureMissing`` / ``SignatureInvalid`` unless a trusted key signed it;
        the publish time the signature covers, or None for a record signed without one (or
        unsigned, under the development override)."""
        if self.allow_unsigned:
            return None
        what = f"rules {published.version!r}"
        if self.public_key is None:
            msg = f"{what}: no public key to verify rules with; refusing it"
            raise SignatureMissing(msg)
        sha256 = _sha256(published.text)
        if self.publisher_signed(published):
            return published.published_at
        timed = signed_payload(published.version, sha256, published.published_at)
        try:
            verify_payload(what, published.signature, timed, self.public_key)
        except SignatureInvalid:
            verify_payload(
                what,
                published.signature,
                signed_payload(published.version, sha256),
                self.public_key,
            )
            return None
        return published.published_at

    def publisher_signed(self, published: PublishedRules) -> bool:
        """Whether a trusted signature covers the record's publisher name too (records
        published before it did show the name as unsigned: anyone could rewrite it)."""
        if self.public_key is None:
            return False
        full = signed_payload(
            published.version,
            _sha256(published.text),
            published.published_at,
            published.published_by,
        )
        try:
            verify_payload("", published.signature, full, self.public_key)
        except (SignatureMissing, SignatureInvalid):
            return False
        return True

    def signed_time(self, published: PublishedRules) -> float | None:
        """:meth:`check_signature`'s publish time, or None for a record it refuses."""
        try:
            return self.check_signature(published)
        except (SignatureMissing, SignatureInvalid):
            return None

    def _check_order(self, published: PublishedRules, at: float | None) -> None:
        """Raise :class:`StaleRules` for a record published before the served version: a
        record signed without a time once a timed one is served, or one timed earlier."""
        served = self.current_published_at
        if served is None or (at is not None and at > served):
            return
        when = "without a signed time" if at is None else f"at {at:.3f}"
        msg = (
            f"rules {published.version!r} were published {when}, before the served "
            f"{self.current.version!r} ({served:.3f}): a re-sent record"
        )
        raise StaleRules(msg)

    def offer(self, value: bytes | None, limit: int | None = None) -> str | None:
        """Serve the rules in a record of the topic if they validate; the new version or None.

        A record over ``limit`` bytes is refused before it is parsed (a YAML bomb cannot stall
        the worker)."""
        try:
            if limit is not None and len(value or b"") > limit:
                msg = f"a {len(value or b'')}-byte rules record is over the {limit}-byte limit"
                raise RulesError(msg)
            published = decode_record(0, value)
            at = self.check_signature(published)  # before parsing: only a trusted file is parsed
            served = (self.current.version, self.current.sha256, self.current_published_at)
            if (published.version, _sha256(published.text), at) == served:
                self.last_error = None
                return None  # the served record again
            self._check_order(published, at)
            ruleset = load_rules(published.text, name=f"rules {published.version!r}")
            if ruleset.version != published.version:
                msg = f"record says version {published.version!r}, its file {ruleset.version!r}"
                raise RulesError(msg)
        except (RulesError, SignatureMissing, SignatureInvalid) as exc:
            self.last_error = str(exc)
            log.error("refused rules, keeping %s: %s", self.current.version, exc)
            result = {
                SignatureMissing: "unsigned",
                SignatureInvalid: "bad_signature",
                StaleRules: "stale",
            }
            metrics.RULE_RELOADS.labels(result=result.get(type(exc), "refused")).inc()
            return None
        self.last_error = None
        if at is not None:
            self.current_published_at = at
        if ruleset.version == self.current.version and ruleset.sha256 == self.current.sha256:
            return None
        old = self.current.version
        self.use(ruleset)
        metrics.RULE_RELOADS.labels(result="ok").inc()
        log.info("rules switched from %s to %s (%d rules)", old, ruleset.version, len(ruleset))
        return ruleset.version

    def use(self, ruleset: RuleSet) -> None:
        self.current = ruleset
        metrics.set_rules(ruleset.version, ruleset.list_sizes())

    async def follow(
        self, settings: Settings, on_switch: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        """Read the rules topic for ever (from where ``catch_up`` stopped), switching to each
        newer valid version; a lost connection is retried, never the end of the task."""
        if self.public_key is None and not self.allow_unsigned:
            self._try_trust(settings)
        await retrying("the rules topic", lambda: self._follow(settings, on_switch))

    async def _follow(
        self, settings: Settings, on_switch: Callable[[str], Awaitable[None]] | None
    ) -> None:
        from aiokafka import TopicPartition

        await ensure_rules_topic(settings)
        consumer = committed_reader(settings)
        await consumer.start()
        try:
            partition = TopicPartition(settings.topic(topics.RULES), 0)
            consumer.assign([partition])
            if self.next_offset is None:
                await consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, self.next_offset)
            while True:
                version = None
                for message in await _fetch(consumer, partition):
                    version = self.offer(message.value, RULES_MAX_BYTES) or version
                    self.next_offset = message.offset + 1
                if version is not None and on_switch is not None:
                    await on_switch(version)
        finally:
            await consumer.stop()

    async def catch_up(self, settings: Settings) -> str:
        """Serve the newest valid version on the topic now (before a worker takes traffic).

        Without a public key (a worker allowed unsigned models) it still starts, refusing every
        rules record with that reason."""
        self._try_trust(settings)
        refusals: list[str] = []
        history, end = await read_history(settings, keep=partial(self._verifies, refusals))
        for record in publication_order(history, self, newest_first=True):
            self.offer(encode_record(record), RULES_MAX_BYTES)
            if self.last_error is None:
                break
        if not history and refusals:
            self.last_error = refusals[-1]
        self.next_offset = end
        return self.current.version

    def _verifies(self, refusals: list[str], published: PublishedRules) -> bool:
        """Whether a trusted key signed ``published``; a refusal is counted and its reason kept
        in ``refusals`` (the record itself is dropped: unsigned records may be many and large)."""
        try:
            self.check_signature(published)
        except (SignatureMissing, SignatureInvalid) as exc:
            refusals[:] = [str(exc)]
            log.error("refused rules record at offset %d: %s", published.offset, exc)
            result = "unsigned" if isinstance(exc, SignatureMissing) else "bad_signature"
            metrics.RULE_RELOADS.labels(result=result).inc()
            return False
        return True


def apply_rules(
    ruleset: RuleSet,
    serving: ServingModel,
    events: Sequence[Event],
    scores: np.ndarray,
    decisions: list[Decision],
    memo: Mapping[str, Analysis] | None = None,
    learned: LearnedList | None = None,
    searched: Mapping[str, Contacts] | None = None,
    learned_only: set[int] | None = None,
) -> list[tuple[int, bytes, bytes]]:
    """Stamp ``rules_version`` on every decision and apply the rules and the learned list that
    fire (replacing the decisions in ``decisions``: they are frozen); the learned list's evidence
    records (``streams.learned_list``).

    ``memo`` holds the normalized texts scoring computed (``score_events``): the rules match on
    them rather than normalizing each text again (a text missing from it is normalized here).
    ``searched``: the contacts scoring found (``models.rules.contacts_of``); a text that may
    carry one and is missing from it is searched here. ``learned_only`` collects the indexes of
    the decisions the learned list alone turned into blocks: evidence by association, which
    blocks the message but is no strike against its account (an innocent user who names a
    contact spammers also named is not restricted for it)."""
    searched = searched or {}
    version = ruleset.version
    for i, decision in enumerate(decisions):
        if decision.rules_version != version:  # the pipeline builds them with it already
            decisions[i] = replace(decision, rules_version=version)
    learned = learned if learned else None
    if not len(ruleset) and learned is None:
        # only blocked events need their contacts (as evidence for the learned list):
        # evidence_records searches them, except where scoring showed there are none
        memo = memo or {}
        known: list[Contacts | None] = [
            _event_contacts(event, memo.get(event.text), searched)
            if decision.action == "block"
            else None
            for event, decision in zip(events, decisions, strict=True)
        ]
        return evidence_records(events, decisions, known, [True] * len(events))
    labels = serving.model.labels
    now = time.time()
    found: list[Contacts | None] = []
    counted: list[bool] = []
    for i, (event, row) in enumerate(zip(events, scores, strict=True)):
        analysis = memo.get(event.text) if memo is not None else None
        contacts = None
        if ruleset.needs_contacts or learned is not None:
            contacts = _event_contacts(event, analysis, searched)
        found.append(contacts)
        fired = ruleset.match(
            event.text,
            dict(zip(labels, row.tolist(), strict=True)),
            event.source,
            now,
            analysis[0] if analysis is not None else None,
            contacts,
        )
        if fired:
            decisions[i] = _apply_fired(serving, event, row, decisions[i], fired)
        decision = decisions[i]
        # a block the learned list alone made is not evidence: an entry cannot feed itself
        counted.append(decision.action == "block")
        hits = learned.match(contacts, now) if learned is not None and contacts is not None else []
        if hits and not any(rule.action == "allow" for rule in fired):
            if learned_only is not None and decision.action != "block":
                learned_only.add(i)
            decisions[i] = replace(
                decision,
                action="block",
                triggered=(
                    decision.triggered
                    if decision.action == "block"
                    else tuple(dict.fromkeys(e.category for e in hits))
                ),
                reasons=(*decision.reasons, *(e.reason() for e in hits)),
            )
            metrics.LEARNED_HITS.inc(len(hits))
    return evidence_records(events, decisions, found, counted)


def _event_contacts(
    event: Event, analysis: Analysis | None, searched: Mapping[str, Contacts]
) -> Contacts:
    """The contact tokens of ``event``'s text and of its link previews (``urls``)."""
    return merged(
        known_contacts(event.text, analysis, searched), link_contacts(event.data.get("urls"))
    )


def _apply_fired(
    serving: ServingModel,
    event: Event,
    row: np.ndarray,
    decision: Decision,
    fired: list[Rule],
) -> Decision:
    """``decision`` with the rules that fired for its event applied."""
    labels = serving.model.labels
    _, _, deltas = combine("allow", fired)
    verdict_action, triggered = decision.action, decision.triggered
    scores, verdict_reasons = decision.scores, decision.reasons
    if deltas:
        adjusted = row.copy()
        for i, label in enumerate(labels):
            adjusted[i] = min(1.0, max(0.0, float(adjusted[i]) + deltas.get(label, 0.0)))
        verdict = serving.policy.decide_batch(adjusted[None, :], [event.source])[0]
        verdict_action, triggered = verdict.action, verdict.triggered
        scores = dict(zip(labels, np.round(adjusted, 4).tolist(), strict=True))
        verdict_reasons = verdict.reasons
    action, reasons, _ = combine(verdict_action, fired)
    if action == "allow":
        triggered = ()
    elif action != verdict_action:
        triggered = tuple(
            dict.fromkeys(r.category for r in fired if r.action in ("block", "review"))
        )
    for rule in fired:
        metrics.RULE_HITS.labels(rule=rule.id, effect=rule.action).inc()
    return replace(
        decision,
        action=cast(Action, action),
        scores=scores,
        triggered=triggered,
        reasons=(*verdict_reasons, *reasons),
    )


# -- the topic ---------------------------------------------------------------------------------------
def encode_record(record: PublishedRules) -> bytes:
    return orjson.dumps(
        {
            "version": record.version,
            "text": record.text,
            "sha256": record.sha256,
            "published_at": record.published_at,
            "published_by": record.published_by,
            "signature": record.signature,
        }
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def decode_record(offset: int, value: bytes | None) -> PublishedRules:
    """A record of the rules topic; :class:`RulesError` if it is not one."""
    try:
        data = orjson.loads(value or b"")
        return PublishedRules(
            offset,
            str(data["version"]),
            str(data["text"]),
            str(data.get("sha256", "")),
            float(data.get("published_at", 0.0)),
            str(data.get("published_by", "")),
            data.get("signature") if isinstance(data.get("signature"), dict) else None,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        msg = f"not a rules record: {exc}"
        raise RulesError(msg) from exc


# A rules file of 100,000 terms and 10,000 domains is about 2.6 MB: far above Kafka's default 1 MB
# record limit. The rules topic raises that limit to this, and the publisher compresses.
RULES_MAX_BYTES = 64 * 1024 * 1024


async def ensure_rules_topic(settings: Settings, publisher: bool = False) -> None:
    """Create ``moderation.rules``: one partition (publication order is the order every worker
    applies), records up to ``RULES_MAX_BYTES``, none ever deleted (see the module docstring:
    compaction let any writer delete a signed version). The publisher (the admin) also sets
    that on a topic made before; a worker may not alter topics, and a worker only reads."""
    await ensure_control_topic(
        settings, settings.topic(topics.RULES), KEPT_FOR_EVER, RULES_MAX_BYTES, publisher
    )


async def read_history(
    settings: Settings, keep: Callable[[PublishedRules], bool] | None = None
) -> tuple[list[PublishedRules], int]:
    """Every readable record of the rules topic that ``keep`` keeps (all without it), oldest
    first, and the offset after the last. A record ``keep`` refuses is dropped as it is read."""
    from aiokafka import TopicPartition

    await ensure_rules_topic(settings)
    consumer = committed_reader(settings)
    await consumer.start()
    records: list[PublishedRules] = []
    try:
        partition = TopicPartition(settings.topic(topics.RULES), 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        while await consumer.position(partition) < end:
            for message in await _fetch(consumer, partition, end):
                try:
                    record = decode_record(message.offset, message.value)
                except RulesError as exc:
                    log.warning("skipping rules record at offset %d: %s", message.offset, exc)
                    continue
                if keep is None or keep(record):
                    records.append(record)
    finally:
        await consumer.stop()
    return records, end


async def publish(
    settings: Settings,
    text: str,
    private_key: Ed25519PrivateKey | None = None,
    history: Sequence[PublishedRules] | None = None,
) -> RuleSet:
    """Validate ``text`` (raises :class:`RulesError`) and publish it as the newest version,
    signed with ``private_key`` (unsigned without one: only for workers that allow it).

    Its time is now, or just after the newest signed time on the topic (``history``, read here
    if not given) if that is later: this machine's clock may be behind the last publisher's, and
    workers refuse a version published before the one they serve."""
    ruleset = load_rules(text)
    await ensure_rules_topic(settings, publisher=True)
    published_at = time.time()
    signature = None
    if private_key is not None:
        if history is None:
            history, _ = await read_history(settings)
        own = RulesHolder(private_key.public_key())
        newest = max((t for r in history if (t := own.signed_time(r)) is not None), default=0.0)
        published_at = max(published_at, newest + 0.001)
    publisher = _publisher()
    if private_key is not None:
        payload = signed_payload(ruleset.version, ruleset.sha256, published_at, publisher)
        signature = sign_payload(payload, private_key)
    record = PublishedRules(
        -1, ruleset.version, text, ruleset.sha256, published_at, publisher, signature
    )
    value = encode_record(record)
    if len(value) > RULES_MAX_BYTES:
        msg = f"the rules record is {len(value):,} bytes, above the {RULES_MAX_BYTES:,} limit"
        raise RulesError(msg)
    from streams.producers import TrackingProducer

    producer = TrackingProducer(
        **kafka_options.large_record_producer(settings, "rules-publisher", RULES_MAX_BYTES)
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic(topics.RULES), value, key=ruleset.version.encode()
        )
    finally:
        await producer.stop()
    return ruleset


def committed_reader(settings: Settings, role: str = "rules-reader") -> Any:
    """A group-less consumer of a control topic (rules, learned list, campaigns) that sees only
    committed records: a publisher's aborted transaction never switches the fleet."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(**kafka_options.committed_reader(settings, role))


async def _fetch(consumer: Any, partition: Any, end: int | None = None) -> list[Any]:
    """The next records of the rules topic; a batch that cannot be decompressed is logged,
    counted and stepped over (the served rules stay), never the end of the reader."""
    from streams import unreadable

    try:
        # one record at a time: a rules record may be 64 MB, and aiokafka unpacks only the
        # records it hands out, so 50 records of 60 MB of padding (refused, unsigned) no
        # longer take a starting worker to 3.2 GB
        fetched = await consumer.getmany(partition, timeout_ms=500, max_records=1)
    except unreadable.UNREADABLE:
        if end is None:
            end = (await consumer.end_offsets([partition]))[partition]
        good, batch = await unreadable.step_over(consumer, partition, end)
        if batch is not None:
            log.error("rules topic: %s", batch.describe())
            metrics.RULE_RELOADS.labels(result="unreadable").inc()
        return good
    return list(fetched.get(partition, []))


def publication_order(
    history: Sequence[PublishedRules], holder: RulesHolder | None, newest_first: bool = False
) -> list[PublishedRules]:
    """``history`` in the order its versions were published: by signed publish time (records
    signed without one first, as older than any), then by offset. Without a ``holder`` that
    verifies, by offset."""
    if holder is None:
        ordered = list(history)
    else:
        times = {id(r): holder.signed_time(r) for r in history}
        ordered = sorted(
            history,
            key=lambda r: (
                times[id(r)] is not None,
                times[id(r)] or 0.0,
                r.offset,
            ),
        )
    return ordered[::-1] if newest_first else ordered


def newest_valid(
    history: Sequence[PublishedRules], holder: RulesHolder | None = None
) -> tuple[PublishedRules | None, list[str]]:
    """The record workers serve (the newest that validates and, given the ``holder`` that
    verifies, is signed: newest by signed publish time) and the versions served before it,
    newest first, without repeats."""
    valid = []
    for record in publication_order(history, holder):
        try:
            if holder is not None:
                holder.check_signature(record)
            load_rules(record.text)
        except (RulesError, SignatureMissing, SignatureInvalid):
            continue
        valid.append(record)
    if not valid:
        return None, []
    current = valid[-1]
    before = list(
        dict.fromkeys(r.version for r in reversed(valid[:-1]) if r.version != current.version)
    )
    return current, before


def _publisher() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


SHARED = RulesHolder()  # the worker's holder: the pipeline and the follow task share it
