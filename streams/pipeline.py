"""One batch of raw Kafka messages → decisions, dead letters and strikes on their topics.

Both ingest paths (``streams.batch_reader`` and the Faust agent in ``streams.agents``) hand
batches to :class:`ModerationPipeline`; so do the agents for reports, labels and moderator
decisions. It owns no Kafka client, only an :class:`OutputSink`, so agent tests can record what
would be sent. Which events it scores comes from ``streams.kinds``; what it writes are the
records of ``streams.records``.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from chatguard.settings import Settings
from models import fingerprint, normalize
from models.learned import preload as preload_learned_lists
from models.normalize import Analysis
from models.rules import Contacts, RuleSet
from streams import campaigns, kinds, learned_list, metrics, moderators, reports, senders, topics
from streams.campaigns import CampaignHolder
from streams.decide import Position, build_decisions
from streams.decoding import Event, Rejected, check_categories, decode
from streams.fleet_signing import FleetSigner
from streams.kinds import SCORED_TYPES
from streams.learned_list import LearnedHolder
from streams.model_holder import ModelHolder, ServingModel
from streams.records import DeadLetter, Decision, StrikeSignal
from streams.rules_holder import SHARED, RulesHolder, apply_rules
from streams.scoring import Scorer, Scoring
from streams.scoring_child import ScoringFailure, short_of_resources

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from streams.sinks import OutputSink  # sinks.py imports Outgoing from here

# A dead letter carries the raw value base64-encoded (4/3 larger): cut it here so that a dead letter
# for an event near Kafka's 1 MB record limit is itself under that limit. The whole value stays at
# its source position, which the dead letter records.
DEAD_LETTER_RAW_BYTES = 512 * 1024
# a dead letter's error message is cut here (an exception's text can be anything)
ERROR_CHARS = 1_000
# what Kafka adds to a record's key and value in a batch (headers, varints, the batch header)
RECORD_OVERHEAD_BYTES = 128
# the pauses before a batch is scored again when scoring ran short of descriptors or memory
# (EMFILE while a flood of connections held them dead-lettered whole batches): 3.1 s in all,
# then the batch fails as any other would, so no partition waits on it for long
SHORTAGE_RETRY_DELAYS_S = (0.1, 0.2, 0.4, 0.8, 1.6)


Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """What the pipeline needs from a consumed Kafka message."""

    topic: str  # the physical topic name
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()  # checked on internal topics only: the fleet signature
    # the sizes key and value arrived with, where aiokafka cut them (streams.oversize)
    key_size: int | None = None
    value_size: int | None = None

    def sizes(self) -> tuple[int, int]:
        """The key's and the value's sizes as they arrived."""
        key, value = len(self.key or b""), len(self.value or b"")
        return max(key, self.key_size or 0), max(value, self.value_size or 0)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce: topic (physical name), key, value."""

    topic: str
    key: bytes | None
    value: bytes
    source: RawMessage | None = None  # the input it answers, for a dead letter if it is too large
    headers: Headers = ()  # set by ModerationPipeline.send: the fleet signature, if any


@dataclass(slots=True)
class InFlight:
    """A batch :meth:`ModerationPipeline.start` decoded and handed to scoring."""

    size: int  # messages in the batch
    out: list[Outgoing]  # its dead letters and ``seen`` records so far
    events: list[Event]  # the events being scored
    sources: list[RawMessage]
    scoring: Scoring | None  # None when nothing in the batch is scored


class ModerationPipeline:
    """Decode → score a batch → decide → route, for chat messages and posts."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        sink: OutputSink,
        rules: RulesHolder = SHARED,
        learned: LearnedHolder = learned_list.SHARED,
        campaign_holder: CampaignHolder = campaigns.SHARED,
    ) -> None:
        # the data files scoring reads at first use, read now: at first use under a shortage
        # of file descriptors (half-sent HTTP connections had taken them) a batch failed whole
        normalize.preload()
        fingerprint.preload()
        preload_learned_lists()
        self.settings = settings
        self.holder = holder
        self.sink = sink
        self.signer = FleetSigner.for_settings(settings)
        self.rules = rules
        self.learned = learned
        self.campaigns = campaign_holder
        self._fingerprints = settings.topic(topics.CAMPAIGN_FINGERPRINTS)
        self._campaign_members = settings.topic(topics.CAMPAIGN_MEMBERS)
        self._contacts = settings.topic(topics.CONTACTS_BLOCKED)
        self._sender_activity = settings.topic(topics.SENDER_ACTIVITY)
        self._scorer = Scorer(
            settings.scoring_budget_s,
            in_process=settings.scoring == "thread",
            fingerprint_partitions=settings.topic_partitions if settings.campaigns else None,
            find_contacts=True,
        )
        self._decisions = settings.topic(topics.DECISIONS)
        self._review = settings.topic(topics.REVIEW)
        self._enforcement = settings.topic(topics.ENFORCEMENT)
        self._dead_letter = settings.topic(topics.DEAD_LETTER)
        self._strikes = settings.topic(topics.ACCOUNT_STRIKES)
        # the raw value a dead letter keeps: 512 KiB, or less if the record limit is lower; the
        # rest of a dead letter (key, ids, error, topic name) is bounded by the settings
        fixed = 4_096 + 3 * settings.max_key_bytes + 6 * (ERROR_CHARS + settings.max_id_chars)
        self._raw_cut = max(
            0, min(DEAD_LETTER_RAW_BYTES, (settings.max_record_bytes - fixed) * 3 // 4)
        )
        self._events_by_id = settings.topic(topics.EVENTS_BY_ID)
        # a report or a moderator's decision is bounded by its ids, not by max_event_bytes
        self._most_bytes = kinds.most_bytes_by_topic(
            settings.max_event_bytes, settings.max_id_chars
        )
        self._reports_by_reporter = settings.topic(topics.REPORTS_BY_REPORTER)

    async def warm(self) -> None:
        """Have scoring ready for the first batch (the scoring process started with the model),
        if a model is loaded."""
        if self.holder.loaded:
            await self._scorer.warm(self.holder.current)

    async def close(self) -> None:
        """Stop what scoring started (the scoring process)."""
        await self._scorer.close()

    def decode(self, message: RawMessage) -> Event | Rejected:
        logical = topics.logical_name(self.settings, message.topic)
        metrics.EVENTS_IN.labels(topic=logical).inc()
        return self._decode(message, logical)

    def _decode(self, message: RawMessage, logical_topic: str) -> Event | Rejected:
        event_bytes = self._most_bytes.get(logical_topic, self.settings.max_event_bytes)
        result = decode(
            message.value,
            logical_topic,
            max_event_bytes=event_bytes,
            max_text_chars=self.settings.max_text_chars,
            max_id_chars=self.settings.max_id_chars,
        )
        key_bytes = self.settings.max_key_bytes
        key_size, value_size = message.sizes()  # as they arrived, not as aiokafka cut them
        if message.key is not None and key_size > key_bytes:
            error = f"key is {key_size} bytes; the limit is {key_bytes}"
            return Rejected("oversize_key", error, result.event_id)
        if value_size > event_bytes:
            error = f"event is {value_size} bytes; the limit is {event_bytes}"
            return Rejected("oversize_event", error, result.event_id)
        return result

    async def moderate(self, batch: Sequence[RawMessage]) -> None:
        """Every message of ``batch`` ends as one decision or one dead letter."""
        with metrics.batch_stage("start"):
            started = await self.start(batch)
        await self.finish(started)

    async def start(self, batch: Sequence[RawMessage]) -> InFlight:
        """Decode ``batch`` and hand its events to scoring, without waiting for the scores.

        A reader starts the next batch before it :meth:`finish`-es this one, so the model
        scores one batch (in its own process) while the event loop decides and sends the
        other."""
        out: list[Outgoing] = []
        events: list[Event] = []
        sources: list[RawMessage] = []
        logical = topics.logical_name
        arrived: Counter[str] = Counter()
        for message in batch:
            topic = logical(self.settings, message.topic)
            arrived[topic] += 1
            try:
                result = self._decode(message, topic)
            except Exception as exc:  # a decoder bug must not take the batch down
                result = internal_error(exc)
            if isinstance(result, Rejected):
                out.append(self.dead_letter_record(message, result))
            elif result.event_type not in SCORED_TYPES:
                out.append(
                    self.dead_letter_record(
                        message,
                        Rejected(
                            "unknown_type",
                            f"{result.event_type} is not moderated here",
                            result.event_id,
                        ),
                    )
                )
            else:
                events.append(result)
                sources.append(message)
        for topic, count in arrived.items():
            metrics.EVENTS_IN.labels(topic=topic).inc(count)
        scoring = None
        if events:
            out.extend(self._seen(events, sources))
            try:
                scoring = await self._hand_to_scorer(events)
            except Exception:  # tried again in finish, where a failure is isolated per event
                log.exception("could not hand a batch to scoring")
        return InFlight(len(batch), out, events, sources, scoring)

    async def finish(self, batch: InFlight) -> None:
        """Decide a started batch on its scores and send its records."""
        out = batch.out
        if batch.events:
            out.extend(await self._decide_isolated(batch.events, batch.sources, batch.scoring))
        with metrics.batch_stage("send"):
            await self.send(out)

    def _seen(self, events: Sequence[Event], sources: Sequence[RawMessage]) -> list[Outgoing]:
        """Tell the recent-events table which account each event is from (reports need it).

        Under exactly-once, one set of records per source partition, each carrying its source:
        a record goes out in the transaction of the partition its events came from. Otherwise
        one set for the batch, at most one record per partition of ``events.by_id``: the
        agents that fold them pay per record."""
        by_source: dict[tuple[str, int], list[int]] = defaultdict(list)
        per_source = self.settings.processing_guarantee == "exactly_once"
        for i, source in enumerate(sources):
            by_source[(source.topic, source.partition) if per_source else ("", 0)].append(i)
        now = time.time()
        return [
            Outgoing(self._events_by_id, key, value, sources[indexes[0]])
            for indexes in by_source.values()
            for key, value in reports.seen_records(
                ((events[i].event_id, events[i].account_id) for i in indexes),
                self.settings.topic_partitions,
                now,
            )
        ]

    def _fingerprint_records(
        self,
        events: Sequence[Event],
        decisions: Sequence[Decision],
        found: Sequence[campaigns.Fingerprint],
        sources: Sequence[RawMessage],
        now: float,
    ) -> list[tuple[int, bytes, bytes]]:
        """:func:`campaigns.fingerprint_records` for the batch; under exactly-once one set per
        source partition (each record goes out in its source's transaction), as in
        :meth:`_seen`."""
        if self.settings.processing_guarantee != "exactly_once":
            return campaigns.fingerprint_records(events, decisions, found, now)
        by_source: dict[tuple[str, int], list[int]] = defaultdict(list)
        for i, source in enumerate(sources):
            by_source[(source.topic, source.partition)].append(i)
        out: list[tuple[int, bytes, bytes]] = []
        for indexes in by_source.values():
            records = campaigns.fingerprint_records(
                [events[i] for i in indexes],
                [decisions[i] for i in indexes],
                [found[i] for i in indexes],
                now,
            )
            out.extend((indexes[j], key, value) for j, key, value in records)
        return out

    async def _decide_isolated(
        self, events: list[Event], sources: list[RawMessage], scoring: Scoring | None = None
    ) -> list[Outgoing]:
        """``_decide``, riding out a shortage; if it raises for the batch, one event at a time
        (each tried once), so that only the events it raises on become ``internal_error`` dead
        letters."""
        try:
            return await self._decide(events, sources, scoring, SHORTAGE_RETRY_DELAYS_S)
        except Exception:
            if len(events) == 1:
                raise
        out: list[Outgoing] = []
        for event, source in zip(events, sources, strict=True):
            try:
                out.extend(await self._decide([event], [source]))
            except Exception as exc:
                out.append(self.dead_letter_record(source, internal_error(exc, event.event_id)))
        return out

    async def send(self, records: Sequence[Outgoing]) -> None:
        """Hand ``records`` to the sink; one over the record limit becomes an
        ``output_too_large`` dead letter instead of a producer error that would stop the worker."""
        limit = self.settings.max_record_bytes
        bounded = [
            record
            if _record_bytes(record) <= limit
            else self._too_large(record, _record_bytes(record), limit)
            for record in records
        ]
        await self.sink.send_all(self.signer.signed(bounded))

    def _too_large(self, record: Outgoing, size: int, limit: int) -> Outgoing:
        topic = topics.logical_name(self.settings, record.topic)
        error = f"a {size}-byte record for {topic} is over the {limit}-byte record limit"
        source = record.source or RawMessage(record.topic, -1, -1, record.key, None)
        return self.dead_letter_record(source, Rejected("output_too_large", error))

    async def _hand_to_scorer(self, events: list[Event]) -> Scoring:
        """``events`` handed to the scorer with the serving model (one version for the whole
        batch), without waiting for the scores."""
        serving = self.holder.current
        await self._scorer.ready(serving)
        return self._scorer.begin(serving, events, {})

    async def _decide(
        self,
        events: list[Event],
        sources: list[RawMessage],
        scoring: Scoring | None = None,
        shortage_delays_s: Sequence[float] = (),
    ) -> list[Outgoing]:
        """Decisions for ``events`` (dead letters for poison and slow events), on the scores of
        ``scoring`` (their batch handed to the scorer by :meth:`start`), or scored now; as in
        :meth:`_scored` with ``shortage_delays_s``."""
        scoring, scores, failures = await self._scored(events, scoring, shortage_delays_s)
        with metrics.batch_stage("decide"):
            return await self._decided(events, sources, scoring, scores, failures)

    async def _decided(
        self,
        events: list[Event],
        sources: list[RawMessage],
        scoring: Scoring,
        scores: np.ndarray,
        failures: list[ScoringFailure],
    ) -> list[Outgoing]:
        """:meth:`_decide` once the scores are in."""
        out: list[Outgoing] = []
        serving = scoring.serving
        ruleset = self.rules.current  # likewise one rules version
        memo = scoring.memo  # the normalized texts scoring computed, for the rules
        assert memo is not None
        seconds = scoring.seconds()
        if seconds is not None:
            metrics.SCORING_SECONDS.observe(seconds)
        metrics.BATCH_SIZE.observe(len(events))
        if failures:
            for failure in failures:
                event = events[failure.index]
                out.append(
                    self.dead_letter_record(
                        sources[failure.index],
                        Rejected(failure.kind, failure.error, event.event_id),
                    )
                )
            failed = {f.index for f in failures}
            keep = [i for i in range(len(events)) if i not in failed]
            events = [events[i] for i in keep]
            sources = [sources[i] for i in keep]
            scores = scores[keep]
        positions = [Position(m.topic, m.partition, m.offset) for m in sources]
        decisions = build_decisions(
            serving, events, positions, scores, time.time(), ruleset.version, memo
        )
        learned = self.learned.view(ruleset)
        learned_only: set[int] = set()
        before_learned = [d.action for d in decisions] if self.settings.campaigns else []
        evidence = apply_rules(
            ruleset,
            serving,
            events,
            scores,
            decisions,
            memo,
            learned,
            scoring.contacts,
            learned_only,
        )
        out.extend(Outgoing(self._contacts, key, value, sources[i]) for i, key, value in evidence)
        # what campaigns count and what counts as a strike leave out blocks made by the learned
        # list or a campaign alone: evidence by association (an innocent message naming a
        # contact spammers named, or a near-duplicate of a spam text). Counted, 22 innocents'
        # notices the learned list blocked made their campaign harmful; struck, an innocent
        # framed into a campaign was restricted, then suspended, by re-sharing a post.
        counted = None
        if learned_only and before_learned:
            counted = [
                replace(decisions[i], action=before_learned[i]) if i in learned_only else decision
                for i, decision in enumerate(decisions)
            ]
        campaign_only: set[int] = set()
        out.extend(
            await self._campaigns(
                events,
                sources,
                decisions,
                memo,
                serving,
                ruleset,
                scoring.fingerprints,
                counted,
                campaign_only,
            )
        )
        out.extend(await self._senders(events, sources, memo, scoring.contacts))
        actions: Counter[str] = Counter()
        triggered: Counter[tuple[str, str]] = Counter()
        for i, (decision, source) in enumerate(zip(decisions, sources, strict=True)):
            action = decision.action
            actions[action] += 1
            for category in decision.triggered:
                triggered[(category, action)] += 1
            strike = i not in learned_only and i not in campaign_only
            out.extend(self._routed(decision, source, strike, events[i].text))
        for name, count in actions.items():
            metrics.DECISIONS.labels(action=name).inc(count)
        for (category, name), count in triggered.items():
            metrics.TRIGGERED.labels(category=category, action=name).inc(count)
        return out

    async def _scored(
        self, events: list[Event], scoring: Scoring | None, shortage_delays_s: Sequence[float]
    ) -> tuple[Scoring, np.ndarray, list[ScoringFailure]]:
        """The scores and failures of ``events`` (handed to the scorer now unless ``scoring``
        says they were), and the scoring that computed them. Scoring that runs short of
        descriptors or memory (an OSError, ``short_of_resources``) is no event's fault and
        passes: the batch is handed to the scorer again after each of ``shortage_delays_s``,
        then the error is raised."""
        delays = iter(shortage_delays_s)
        while True:
            try:
                if scoring is None:
                    scoring = await self._hand_to_scorer(events)
                with metrics.batch_stage("scores"):
                    scores, failures = await self._scorer.scored(scoring)
                return scoring, scores, failures
            except OSError as exc:
                delay = next(delays, None) if short_of_resources(exc) else None
                if delay is None:
                    raise
                reason = errno.errorcode.get(exc.errno or 0, "other")
                metrics.SCORING_RETRIES.labels(reason=reason).inc()
                log.warning(
                    "scoring a batch of %d event(s) ran short (%s: %s): scoring it again in %.1f s",
                    len(events),
                    reason,
                    exc.strerror,
                    delay,
                )
                await asyncio.sleep(delay)
                scoring = None

    async def _campaigns(
        self,
        events: list[Event],
        sources: list[RawMessage],
        decisions: list[Decision],
        memo: dict[str, Analysis],
        serving: ServingModel,
        ruleset: RuleSet,
        known: dict[str, campaigns.Fingerprint] | None = None,
        counted: Sequence[Decision] | None = None,
        campaign_only: set[int] | None = None,
    ) -> list[Outgoing]:
        """The batch's fingerprints for the fleet's campaign count (``known``: those scoring
        computed with the scores; any missing are computed in the scoring thread; ``counted``:
        the decisions to count them with, if not ``decisions``), and mark (harmful: block,
        unless one of ``ruleset``'s allow rules fired) the decisions of events that belong to
        a live campaign (replacing them in ``decisions``; ``campaign_only`` collects the
        indexes of those only the campaign blocked); the fingerprint and member records to
        send; none unless ``CHATGUARD_CAMPAIGNS`` is on."""
        if not self.settings.campaigns:
            return []
        allowing = frozenset(r.reason() for r in ruleset.rules if r.action == "allow")
        review = {label: t.review for label, t in serving.policy.thresholds.items()}
        partitions = self.settings.topic_partitions
        if known is not None and all(event.text in known for event in events):
            found: list[campaigns.Fingerprint] | None = [known[event.text] for event in events]
        else:
            found = await self._scorer.run(
                partial(campaigns.features, events, memo, partitions, known)
            )
        if found is None:  # over the scoring budget: this batch is not counted
            return []
        now = time.time()
        out = [
            Outgoing(self._fingerprints, key, value, sources[i])
            for i, key, value in self._fingerprint_records(
                events, decisions if counted is None else counted, found, sources, now
            )
        ]
        share = self.settings.campaign_own_score
        for i, (bands, _, tokens) in enumerate(found):
            campaign = self.campaigns.member_of(bands, now)
            if campaign is None:
                continue
            suspect = campaigns.suspect_alone(decisions[i], tokens, review, share)
            blocked_before = decisions[i].action == "block"
            decisions[i], member = campaigns.escalate(
                decisions[i], campaign, now, allowing, suspect
            )
            if campaign_only is not None and decisions[i].action == "block" and not blocked_before:
                campaign_only.add(i)
            metrics.CAMPAIGN_MEMBERS.labels(status="harmful" if campaign.harmful else "clean").inc()
            if member is not None:
                key = member.account_id.encode()
                out.append(Outgoing(self._campaign_members, key, orjson.dumps(member), sources[i]))
        return out

    async def _senders(
        self,
        events: list[Event],
        sources: list[RawMessage],
        memo: dict[str, Analysis],
        contacts: dict[str, Contacts] | None = None,
    ) -> list[Outgoing]:
        """The batch's chat messages for the fleet's per-account count (``streams.senders``),
        taken in the scoring thread, with the contacts scoring found (``contacts``); none
        unless ``CHATGUARD_SENDERS`` is on."""
        if not self.settings.senders:
            return []
        found = await self._scorer.run(partial(senders.activities, events, memo, contacts))
        if found is None:  # over the scoring budget: this batch is not counted
            return []
        per_source = self.settings.processing_guarantee == "exactly_once"
        groups = [(s.topic, s.partition) if per_source else "" for s in sources]
        records = senders.activity_records(
            found, groups, self.settings.topic_partitions, time.time()
        )
        return [
            Outgoing(self._sender_activity, key, value, sources[i]) for i, key, value in records
        ]

    def _routed(
        self,
        decision: Decision,
        source: RawMessage | None = None,
        strike: bool = True,
        text: str = "",
    ) -> list[Outgoing]:
        """Every decision to the decisions topic; review and block also to their queues, and a
        block of ``text``, unless ``strike`` is false (the learned list alone blocked it), to the
        strikes."""
        key = decision.account_id.encode()
        value = orjson.dumps(decision)
        action = decision.action
        if action == "allow":
            return [Outgoing(self._decisions, key, value, source)]
        if action == "review":
            return [
                Outgoing(self._decisions, key, value, source),
                Outgoing(self._review, key, value, source),
            ]
        blocked = [
            Outgoing(self._decisions, key, value, source),
            Outgoing(self._enforcement, key, value, source),
        ]
        if strike:
            signal = orjson.dumps(StrikeSignal.blocked(decision, text))
            blocked.append(Outgoing(self._strikes, key, signal, source))
        return blocked

    async def dead_letter(self, message: RawMessage, rejected: Rejected) -> None:
        await self.send([self.dead_letter_record(message, rejected)])

    def dead_letter_record(self, message: RawMessage, rejected: Rejected) -> Outgoing:
        """The dead letter for ``message`` (the one place a :class:`DeadLetter` is built): compact whatever the input, so it always fits in a
        record. Its key and raw value are cut (their sizes recorded), and so are its id and error."""
        raw = message.value or b""
        key_size, raw_size = message.sizes()
        key = message.key[: self.settings.max_key_bytes] if message.key is not None else None
        error = rejected.error
        if len(error) > ERROR_CHARS:
            error = f"{error[:ERROR_CHARS]}… ({len(rejected.error)} chars)"
        record = DeadLetter(
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            key=base64.b64encode(key).decode() if key is not None else None,
            raw=base64.b64encode(raw[: self._raw_cut]).decode(),
            error_kind=rejected.kind,
            error=error,
            failed_at=time.time(),
            event_id=(
                rejected.event_id[: self.settings.max_id_chars]
                if rejected.event_id is not None
                else None
            ),
            raw_size=raw_size,
            raw_truncated=raw_size > self._raw_cut,
            key_size=key_size,
            key_truncated=key is not None and len(key) < key_size,
        )
        metrics.DEAD_LETTERS.labels(kind=rejected.kind).inc()
        return Outgoing(self._dead_letter, key, orjson.dumps(record), message)

    async def reports(self, batch: Sequence[RawMessage]) -> None:
        """User reports → each validated and keyed by its reporter (to be weighed), or a dead
        letter; handed to the sink together."""
        out: list[Outgoing] = []
        for message in batch:
            try:
                out.append(self._report(message))
            except Exception as exc:  # one report must not take the batch down
                out.append(self.dead_letter_record(message, internal_error(exc)))
        await self.send(out)

    async def report(self, message: RawMessage) -> None:
        """A user report, validated, goes on to its reporter's partition to be weighed."""
        await self.reports([message])

    def _report(self, message: RawMessage) -> Outgoing:
        result = self.decode(message)
        if isinstance(result, Rejected):
            return self.dead_letter_record(message, result)
        report = reports.report_record(result.data)
        key = report.reporter_id.encode()
        return Outgoing(self._reports_by_reporter, key, orjson.dumps(report), message)

    async def labels(
        self, batch: Sequence[RawMessage], keys: Sequence[bytes]
    ) -> list[dict[str, Any]]:
        """The valid, moderator-signed labels of ``batch``; the others become dead letters (sent
        here). A label must be signed within ``label_max_age_s`` of now, not ahead of it
        (``moderators.out_of_time``), and name only categories the serving model knows."""
        valid: list[dict[str, Any]] = []
        dead: list[Outgoing] = []
        for message in batch:
            try:
                result = self.moderator_record(message, keys)
                if isinstance(result, Event):
                    result = (
                        moderators.out_of_time(
                            float(result.data["labelled_at"]),
                            time.time(),
                            self.settings.label_max_age_s,
                            verb="labelled",
                            limit="CHATGUARD_LABEL_MAX_AGE_S",
                            event_id=result.event_id,
                        )
                        or check_categories(result, self.holder.current.model.labels)
                        or result
                    )
            except Exception as exc:  # one label must not take the batch down
                result = internal_error(exc)
            if isinstance(result, Rejected):
                dead.append(self.dead_letter_record(message, result))
            else:
                valid.append(result.data)
        await self.send(dead)
        return valid

    def moderator_record(self, message: RawMessage, keys: Sequence[bytes]) -> Event | Rejected:
        """A label or report decision that is valid and signed by a moderator (under one of
        ``keys``, ``moderators.moderator_keys``), or why not."""
        result = self.decode(message)
        if isinstance(result, Rejected) or moderators.verified(result.data, keys):
            return result
        why = "no moderator key is configured" if not keys else "the signature does not match"
        moderator = str(result.data.get("moderator_id"))[: self.settings.max_id_chars]
        return Rejected(
            "bad_signature",
            f"{result.event_type} from {moderator!r} is not accepted: {why}",
            result.event_id,
        )

    async def moderator_decisions(self, batch: Sequence[RawMessage], keys: Sequence[bytes]) -> None:
        """Signed confirm or reject decisions: the reporters' records, and for each confirmed
        report a confirmation to its event's partition; anything else a dead letter."""
        out: list[Outgoing] = []
        for message in batch:
            try:
                out.extend(self._moderator_decision(message, keys))
            except Exception as exc:  # one decision must not take the batch down
                out.append(self.dead_letter_record(message, internal_error(exc)))
        await self.send(out)

    def _moderator_decision(self, message: RawMessage, keys: Sequence[bytes]) -> list[Outgoing]:
        result = self.moderator_record(message, keys)
        if isinstance(result, Rejected):
            return [self.dead_letter_record(message, result)]
        decision = result.data
        # a replay: the reporter remembers only its last 1,000 decided reports, so re-sent
        # old decisions moved a prolific reporter's reliability again (an outside probe)
        stale = moderators.out_of_time(
            float(decision["decided_at"]),
            time.time(),
            self.settings.strike_window_s,
            verb="decided",
            limit="the strike window",
            event_id=decision.get("event_id"),
        )
        if stale is not None:
            return [self.dead_letter_record(message, stale)]
        out = [
            Outgoing(
                self._reports_by_reporter,
                decision["reporter_id"].encode(),
                orjson.dumps(reports.outcome_record(decision)),
                message,
            )
        ]
        if decision["outcome"] == "confirm":
            # to the event's partition first: the strike goes on only if the recent-events store
            # saw the event from the account the decision names (streams.agents._verify)
            confirmation = reports.confirmation(decision, self.settings.confirmed_report_weight)
            out.append(
                Outgoing(
                    self._events_by_id,
                    decision["event_id"].encode(),
                    orjson.dumps(confirmation),
                    message,
                )
            )
        return out


def _record_bytes(record: Outgoing) -> int:
    return len(record.key or b"") + len(record.value) + RECORD_OVERHEAD_BYTES


def internal_error(exc: Exception, event_id: str | None = None) -> Rejected:
    """An unexpected exception while handling one event, as that event's dead letter."""
    return Rejected("internal_error", f"{type(exc).__name__}: {exc}", event_id)
