"""The Faust agents: consume, hand batches to the pipeline, keep the strikes table. No ML here.

Every agent takes batches with ``noack_take(max, within=...)``, hands a batch's outputs to the
sink together, and acks the batch's events itself once that returned (``take_events`` acks in a
``finally``, so a batch whose handling raised, or was cancelled at shutdown, would be committed
unhandled). A ``within`` is required or a quiet partition stalls the batch. An offset is
committed only once its outcome has been delivered, and never between a batch's outputs and its
acks (so under exactly-once both are in one transaction). ``concurrency`` stays 1 per agent for
the same reason (robinhood/faust#682: concurrent agents can commit past work still in flight).
Bad input becomes a dead letter; an unexpected exception for one event becomes that event's
``internal_error`` dead letter; only a sink that cannot send stops an agent, before its ack.

Nothing is wired at import: :func:`build_worker` makes a new Faust app from the settings and
declares on it the agents, tables, timers and web views of one :class:`Worker`, which owns the
state they share (the serving model, rules and learned list, the pipeline and its sink).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import orjson
from aiokafka.errors import KafkaError
from faust import Stream
from faust.streams import _current_event as faust_current_event  # what tables read
from faust.streams import current_event
from faust.types import AgentT, AppT, EventT, StreamT, TopicT

from chatguard.settings import Settings
from models.campaigns import valid_campaign_id
from models.learned import KINDS as LEARNED_KINDS
from models.learned import evidence, learnable, observe
from models.senders import Activity, behaviour, burst, review_due
from models.senders import observe as observe_sender
from streams import kinds, metrics, partition_progress, topics
from streams.app import create_app
from streams.batch_reader import BatchReader
from streams.batch_writes import BatchWrites
from streams.campaign_fold import CampaignFold
from streams.campaigns import CampaignHolder
from streams.decoding import Rejected, decode_strike
from streams.disk_room import DiskRoom
from streams.enforcement import (
    FUTURE_SLACK_S,
    action_record,
    apply_strike,
    carried_over,
    growth_bound,
    stale_signal,
)
from streams.fleet_signing import internal_record
from streams.labels import LabelStore, LabelStoreError
from streams.learned_list import LearnedHolder, TokenBudget
from streams.logs import limit_repeated_warnings, use_json_logs
from streams.model_holder import ModelHolder
from streams.moderation_progress import ModerationProgress
from streams.moderators import moderator_keys
from streams.partition_progress import PartitionProgress
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage, internal_error
from streams.producer_watch import CHECK_EVERY_S, ProducerWatch
from streams.rdkafka_reader import RdkafkaReader
from streams.recent_events import RecentEvents, Replay, catch_up
from streams.records import (
    AccountAction,
    AccountActionKind,
    InvalidRecord,
    LearnedContact,
    ModelUpdate,
    WeighedReport,
    check_report_fields,
)
from streams.report_retry import (
    WaitingRoom,
    due_in,
    longest_wait,
    retry_or_refuse,
    sent_back,
    waiting_of,
)
from streams.reporters import apply_outcome, count_report, reliability, stats_record
from streams.reports import (
    check_report,
    confirmed_strike_of,
    most_seen,
    report_strike,
    report_time_problem,
    seen_entries,
    verified_record,
)
from streams.rules_holder import RulesHolder
from streams.senders import review_action
from streams.sinks import FaustSink, OutputSink
from streams.state_size import report, table_databases, total_size
from streams.table_values import StateTooLarge, put
from streams.transport import Transport
from streams.unreadable import UnreadableBatch
from streams.web_auth import authorized

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# a label store that fails is tried again after 0.5 s, 1 s, 2 s, ... at most this, and logged at
# most once a minute
RETRY_MAX_S = 10.0
LOG_EVERY_S = 60.0
# the longest the retry agent holds a batch of reports while moderation is behind: under
# Faust's stream_processing_timeout and broker_commit_livelock_soft_timeout (300 s), past
# which it logs the partition as stuck
MOST_HOLD_S = 240.0
# messages a sender_activity record may hold (at least four batches of the worker's size)
MAX_SENDER_MESSAGES = 1_024

AgentBody = Callable[[StreamT], Awaitable[None]]


class Worker:
    """One moderation worker: a Faust app with its agents, tables, timers and web views, and on
    the batch ingest path the batch reader as one of the app's services.

    ``sink`` replaces Faust's producer for every record the agents send (agent tests record
    them); the batch reader always sends through its own producer (``streams.sinks.BatchSink``).
    """

    def __init__(self, settings: Settings, sink: OutputSink | None = None) -> None:
        self.settings = settings
        self.app = app = create_app(settings)
        self.holder = ModelHolder(settings)
        self.rules = RulesHolder()
        self.learned = LearnedHolder(settings.learn_ttl_s)
        self.campaigns = CampaignHolder(settings.campaign_window_s)
        self.pipeline = ModerationPipeline(
            settings, self.holder, sink or FaustSink(app), self.rules, self.learned, self.campaigns
        )
        self.label_store = LabelStore(settings.label_store)
        self.moderator_keys = moderator_keys(settings)
        self.label_store_problem: str | None = None  # why the last append failed, shown on /ready
        # agent name → why it stopped, for /health; cleared when Faust starts the agent again
        self.crashed: dict[str, str] = {}
        self.producer_watch = ProducerWatch(settings.producer_stall_s)
        # input partitions whose records wait behind a position that stands still, for /health
        self.partition_progress = PartitionProgress(settings.partition_stall_s)
        self.agent_lag = partition_progress.AgentLag()
        self.disk = DiskRoom(settings.data_dir, settings.data_min_free_mb)
        cast(Transport, app.transport).on_unreadable = self._dead_letter_unreadable

        def raw_topic(name: str) -> TopicT:
            return app.topic(
                settings.topic(name),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=settings.topic_partitions,
            )

        # account → its strikes, reports and level in the window (streams.enforcement): an
        # entry per account struck or reported in the last two windows, so on disk: in memory,
        # 100,000 blocked messages from made-up accounts held 419 MB of a worker for two days
        self.strikes_table = disk_table(app, settings, "account-strikes", settings.strike_window_s)
        # reporter id → verified reports, outcomes, decided report ids (streams.reporters):
        # kept for good, one entry per user with a verified report (about 0.5 KB each; a report
        # of an event that never existed writes none), so on disk, where a restarted worker
        # also finds it without reading the whole changelog again
        self.reporters_table = disk_table(app, settings, "reporters")
        # event id → its account, for every event moderated in the last one or two strike
        # windows: on disk, with events.by_id as its changelog (streams.recent_events)
        self.recent_events = RecentEvents(
            settings.data_dir / f"{settings.app_id}-recent-events", settings.strike_window_s
        )
        self._replay = Replay(settings, self.pipeline.signer)
        # whether a report's event may still be in the moderation backlog
        self.moderation = ModerationProgress(settings)
        self.waiting_room = WaitingRoom(settings)
        # contact token → its recent blocked events (models.learned.observe), for the learned
        # list: on disk, and at most learn_max_tokens new tokens per window (each one a changelog
        # record and a key on disk for two windows)
        self._new_tokens = TokenBudget(settings.learn_max_tokens, settings.learn_window_s)
        self.contact_evidence = disk_table(
            app, settings, "contact-evidence", settings.learn_window_s
        )
        # account → the campaigns it was acted on for (one account action per campaign): an
        # entry per escalated account, on disk like the strikes
        self.campaign_accounts = disk_table(
            app, settings, "campaign-accounts", settings.strike_window_s
        )
        # account → its recent messages, conversations and texts (models.senders.observe): an
        # entry per account that sent a chat message in the window, so on disk, recovered from
        # its changelog
        self.sender_activity = disk_table(
            app, settings, "sender-activity", settings.sender_window_s
        )

        self.moderate_events: AgentT | None = None
        self.batch_reader: BatchReader | RdkafkaReader | None = None
        if settings.ingest_path == "faust":
            # a Faust agent: exactly-once through Faust's transactions, at Faust's per-event cost
            self.moderate_events = self._agent(
                app.topic(
                    *(settings.topic(name) for name in kinds.SCORED_TOPICS),
                    key_type=bytes,
                    value_type=bytes,
                    key_serializer="raw",
                    value_serializer="raw",
                ),
                "moderate_events",
                self._moderate_stream,
            )
        else:
            # the fast path: batches straight from Kafka, a service of this Faust worker
            reader = RdkafkaReader if settings.ingest_path == "rdkafka" else BatchReader
            self.batch_reader = reader(
                settings, self.holder, self.rules, self.learned, self.campaigns
            )
            # Faust annotates service() for classes; it starts an instance the same way
            app.service(self.batch_reader)  # type: ignore[arg-type]

        self.collect_reports = self._agent(
            raw_topic(topics.USER_REPORTS), "collect_reports", self._collect_reports
        )
        self.store_labels = self._agent(
            raw_topic(topics.MODERATOR_LABELS), "store_labels", self._store_labels_from
        )
        self.enforce_accounts = self._agent(
            raw_topic(topics.ACCOUNT_STRIKES), "enforce_accounts", self._enforce_accounts
        )
        self.collect_moderator_decisions = self._agent(
            raw_topic(topics.MODERATOR_DECISIONS),
            "collect_moderator_decisions",
            self._collect_moderator_decisions,
        )
        self.weigh_reports = self._agent(
            raw_topic(topics.REPORTS_BY_REPORTER), "weigh_reports", self._weigh_reports
        )
        self.verify_reports = self._agent(
            raw_topic(topics.EVENTS_BY_ID), "verify_reports", self._verify_reports
        )
        self.retry_reports = self._agent(
            raw_topic(topics.REPORTS_RETRY), "retry_reports", self._retry_reports
        )
        app.timer(interval=settings.report_retry_s, name="measure_moderation")(
            self.moderation.refresh
        )
        app.task(self.configure_logs)
        app.task(metrics.measure_event_loop_lag)
        app.timer(interval=settings.model_poll_s, name="follow_registry")(self.follow_registry)
        app.timer(interval=CHECK_EVERY_S, name="watch_producers")(self.watch_producers)
        app.timer(interval=partition_progress.CHECK_EVERY_S, name="watch_partitions")(
            self.watch_partitions
        )
        self.learn_contacts = self._agent(
            raw_topic(topics.CONTACTS_BLOCKED), "learn_contacts", self._learn_contacts
        )
        app.task(self.follow_learned)
        # band records → campaigns: a batch service with its own store (streams.campaign_fold)
        self.campaign_fold: CampaignFold | None = None
        if settings.campaigns and settings.campaign_fold == "worker":
            self.campaign_fold = CampaignFold(settings, self.holder, self.campaigns)
            app.service(self.campaign_fold)  # type: ignore[arg-type]
        self.escalate_members = self._agent(
            raw_topic(topics.CAMPAIGN_MEMBERS), "escalate_members", self._escalate_members
        )
        app.task(self.follow_campaigns)
        self.count_senders = self._agent(
            raw_topic(topics.SENDER_ACTIVITY), "count_senders", self._count_senders
        )
        app.task(self.follow_rules)
        self._declare_web_views()

    def _agent(self, channel: TopicT, name: str, body: AgentBody) -> AgentT:
        """Declare ``body`` as the agent ``name``, noting in :attr:`crashed` an exception that
        stops it (a crashed agent leaves its partitions unprocessed while the process looks
        alive, faust-streaming #175). The note stays until the process ends: Faust starts the
        agent again but does not feed it, and the restart used to clear the note, so /health
        said 200 while account enforcement had stopped."""

        async def run(stream: StreamT) -> None:
            try:
                await body(stream)
            except Exception as exc:
                self.crashed[name] = repr(exc)
                log.exception("agent %s stopped: %r", name, exc)
                raise

        run.__name__ = run.__qualname__ = name
        run.__doc__ = body.__doc__
        return self.app.agent(channel, name=name)(run)

    async def _dead_letter_unreadable(self, batch: UnreadableBatch) -> None:
        """A batch Faust's consumer could not decompress and stepped over (``streams.transport``)."""
        await self.pipeline.dead_letter(batch.source(), batch.rejected())

    async def _each_batch(
        self,
        stream: StreamT,
        handle: Callable[[Sequence[EventT]], Awaitable[None]],
        writes_state: bool = False,
        before: Callable[[Sequence[EventT]], Awaitable[None]] | None = None,
    ) -> None:
        """``handle`` batches of up to ``batch_size`` events, or whatever arrived within
        ``batch_window_s``; a batch is acked once ``handle`` returned. An agent that
        ``writes_state`` (a table, a store) holds its batch while the data disk is short of room
        (``streams.disk_room``).

        No commit falls between a batch's outputs and its acks (``Transport.handing_over``):
        under exactly-once a batch's outputs and its offsets go into one transaction. Work that
        may wait long goes in ``before``, outside that guard, so it never holds up a commit."""
        settings = self.settings
        taken = cast(Stream, stream).noack_take(settings.batch_size, within=settings.batch_window_s)
        handing_over = self._handing_over()
        async for events in taken:
            if writes_state:
                await self.disk.wait()
            if before is not None:
                await before(events)
            async with handing_over:
                await handle(events)
                for event in events:
                    await stream.ack(event)

    def _handing_over(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """``Transport.handing_over`` under exactly-once. At least once there is nothing to
        guard: an offset is acked only after its outputs were delivered."""
        if self.settings.processing_guarantee == "exactly_once":
            return cast(Transport, self.app.transport).handing_over
        return contextlib.nullcontext()

    async def _each_internal(
        self,
        stream: StreamT,
        handle: Callable[[RawMessage, dict[str, Any]], list[Outgoing] | Rejected],
    ) -> None:
        """Feed every record of an internal topic to ``handle``, a batch at a time, and send the
        batch's outputs together (:meth:`_each_batch`). What cannot be read or handled is a dead
        letter, so a forged record neither stops the agent nor vanishes.

        One record at a time, each waiting for its outputs' delivery, an agent handled 30-60
        records a second: 20,000 forged reports held an honest one for 303 s."""

        async def each(events: Sequence[EventT]) -> None:
            out: list[Outgoing] = []
            for event in events:
                _handling(event)
                raw = _raw(event)
                try:
                    record = ahead_of_time(event) or internal_record(raw, self.pipeline.signer)
                    result = handle(raw, record) if isinstance(record, dict) else record
                except StateTooLarge as exc:  # the table keeps what it had
                    result = exc.rejected()
                except InvalidRecord as exc:  # a forged record with the wrong shape
                    result = Rejected("invalid_field", str(exc))
                except Exception as exc:  # a bug
                    result = internal_error(exc)
                out.extend(self._outputs(raw, result))
            await self.pipeline.send(out)

        await self._each_batch(stream, each, writes_state=True)

    def _outputs(self, raw: RawMessage, result: Sequence[Outgoing] | Rejected) -> list[Outgoing]:
        """What a handled record sends: its outputs, or its dead letter."""
        if isinstance(result, Rejected):
            return [self.pipeline.dead_letter_record(raw, result)]
        return list(result)

    async def _moderate_stream(self, stream: StreamT) -> None:
        """Chat messages and posts → one decision or dead letter each (the ``faust`` ingest path)."""

        async def moderate(events: Sequence[EventT]) -> None:
            await self.pipeline.moderate([_raw(event) for event in events])

        await self._each_batch(stream, moderate)

    async def _collect_reports(self, stream: StreamT) -> None:
        """User reports → validated, keyed by reporter, to be weighed (``weigh_reports``)."""

        async def collect(events: Sequence[EventT]) -> None:
            await self.pipeline.reports([_raw(event) for event in events])

        await self._each_batch(stream, collect)

    async def _store_labels_from(self, stream: StreamT) -> None:
        """Moderator labels → the labelled-data store that retraining reads."""

        async def store(events: Sequence[EventT]) -> None:
            valid = await self.pipeline.labels([_raw(e) for e in events], self.moderator_keys)
            await self._store_labels(valid)

        await self._each_batch(stream, store)

    async def _store_labels(self, labels: list[dict[str, Any]]) -> None:
        """Append ``labels`` to the store, trying again with backoff for as long as it fails (a
        full disk): until then the batch is not acked, so the labels wait in Kafka."""
        delay, logged_at = 0.5, float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            try:
                stored = await loop.run_in_executor(None, self.label_store.append, labels)
            except LabelStoreError as exc:
                metrics.LABEL_STORE_OK.set(0)
                metrics.LABEL_STORE_ERRORS.labels(reason=errno_name(exc)).inc()
                problem = f"the label store cannot be written ({exc.strerror})"
                if (
                    problem != self.label_store_problem
                    or time.monotonic() - logged_at >= LOG_EVERY_S
                ):
                    log.error("%s; %d labels wait in Kafka, retrying", problem, len(labels))
                    logged_at = time.monotonic()
                self.label_store_problem = problem
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            if self.label_store_problem is not None:
                log.warning(
                    "the label store is writable again (%s before)", self.label_store_problem
                )
            self.label_store_problem = None
            metrics.LABEL_STORE_OK.set(1)
            metrics.LABELS_STORED.inc(stored)
            metrics.LABELS_REPEATED.inc(len(labels) - stored)
            return

    async def _enforce_accounts(self, stream: StreamT) -> None:
        """Strike signals (keyed by account) → the windowed strikes table → account actions."""

        async def enforce(events: Sequence[EventT]) -> None:
            out: list[Outgoing] = []
            states = BatchWrites(self.strikes_table, "account-strikes")
            for event in events:
                _handling(event)  # the strikes table's window follows the event's time
                raw = _raw(event)
                try:
                    outcome = self._enforce(raw, event, states)
                except Exception as exc:  # a forged signal with the wrong shape, or a bug
                    # (a strike whose "at" was null crashed the agent, which Faust restarted
                    # but never fed again: enforcement stopped, /health stayed 200)
                    outcome = internal_error(exc)
                if isinstance(outcome, Outgoing):
                    action = orjson.loads(outcome.value)["action"]
                    metrics.ACCOUNT_ACTIONS.labels(action=action).inc()
                    out.append(outcome)
                elif outcome is not None:
                    out.extend(self._outputs(raw, outcome))
            states.write(_handling)
            await self.pipeline.send(out)

        await self._each_batch(stream, enforce, writes_state=True)

    def _enforce(
        self, raw: RawMessage, event: EventT, states: BatchWrites
    ) -> Outgoing | Rejected | None:
        """One strike signal → the account's new state, held in ``states`` until the batch is
        done; the account action if it crossed a level, or why the signal is refused (the
        strikes topic is writable by anyone with access)."""
        settings = self.settings
        timestamp = event.message.timestamp
        unsigned = self.pipeline.signer.check(raw)
        if unsigned is not None:
            return unsigned
        strike = decode_strike(raw.value, raw.key, max_id_chars=settings.max_id_chars)
        if isinstance(strike, Rejected):
            return strike
        account = strike["account_id"]
        window, restrict_at, suspend_at = (
            settings.strike_window_s,
            settings.restrict_strikes,
            settings.suspend_strikes,
        )
        stale = stale_signal(strike, timestamp, time.time(), window)
        if stale is not None:
            return stale
        slot = (account, timestamp // window)  # the window the table files it under
        windows = self.strikes_table[account]
        held = states.get(slot)
        try:
            # the previous window's recent strikes carry over, so the count slides
            state = (
                held
                or windows.current()
                or carried_over(
                    states.get((account, slot[1] - 1)) or windows.delta(window),
                    timestamp,
                    window,
                    restrict_at=restrict_at,
                    suspend_at=suspend_at,
                    review_at=settings.review_reports,
                )
            )
            new_state, action = apply_strike(
                state,
                strike,
                restrict_at=restrict_at,
                suspend_at=suspend_at,
                review_at=settings.review_reports,
                at=timestamp,
                window_s=window,
            )
            value = None
            if action is not None:
                window_start = (timestamp // window) * window
                record = action_record(account, action, new_state, window_start, time.time())
                value = orjson.dumps(record)
        except Exception as exc:  # a bug for one signal must not stop enforcement
            return internal_error(exc, strike["event_id"])
        if new_state is state:
            return None
        grown_by = None
        if held:  # the batch measured its size already: bound what this signal added
            record_bytes = len(raw.value or b"")
            grown_by = growth_bound(state, new_state, record_bytes, len(strike["categories"]))
        try:
            states.hold(slot, account, new_state, event, grown_by)
        except StateTooLarge as exc:
            return exc.rejected(strike["event_id"])
        if value is None:
            return None
        return Outgoing(settings.topic(topics.ACCOUNT_ACTIONS), account.encode(), value, raw)

    async def _collect_moderator_decisions(self, stream: StreamT) -> None:
        """Signed confirm / reject decisions → strikes for confirmed reports, reporters' outcomes."""

        async def collect(events: Sequence[EventT]) -> None:
            raws = [_raw(event) for event in events]
            await self.pipeline.moderator_decisions(raws, self.moderator_keys)

        await self._each_batch(stream, collect)

    async def _weigh_reports(self, stream: StreamT) -> None:
        """Reports and outcomes keyed by reporter → the reporters table, ``reporter.stats``, and
        each report weighed by its reporter's reliability, on to its event's partition."""
        await self._each_internal(stream, self._weigh)

    def _weigh(self, raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
        """A report is weighed and sent on without a write: it counts in its reporter's record
        only once verified (``verified``), so a flood of reports of events that never existed,
        from made-up reporters, writes no state (each wrote an entry for good: 0.30 → 2.26 MB
        for 20,000)."""
        settings = self.settings
        for name in ("reporter_id", "report_id"):  # the table's key, and ids it keeps
            value = record.get(name)
            if not isinstance(value, str) or not 0 < len(value) <= settings.max_id_chars:
                return Rejected(
                    "invalid_field", f"{name} is not a string of 1 to {settings.max_id_chars} chars"
                )
        reporter = record["reporter_id"]
        stats = self.reporters_table[reporter]  # a reporter with no record: {}, not stored
        kind = record["kind"]
        if kind == "report":
            weighed = WeighedReport.of(record, reliability(stats))
            by_event = settings.topic(topics.EVENTS_BY_ID)
            return [Outgoing(by_event, record["event_id"].encode(), orjson.dumps(weighed), raw)]
        if kind == "outcome":
            if not isinstance(record.get("outcome"), str):
                return Rejected("invalid_field", "an outcome record names its outcome")
            new_stats = apply_outcome(stats, record["report_id"], record["outcome"])
            if new_stats is stats:
                return []
        elif kind == "verified":
            new_stats = count_report(stats)
        else:
            return Rejected("invalid_field", f"kind {kind[:40]!r} is not a reporter's record")
        put(self.reporters_table, "reporters", reporter, new_stats)
        out: list[Outgoing] = []
        stats_value = orjson.dumps(stats_record(reporter, new_stats, time.time()))
        stats_topic = settings.topic(topics.REPORTER_STATS)
        out.append(Outgoing(stats_topic, reporter.encode(), stats_value, raw))
        return out

    async def _verify_reports(self, stream: StreamT) -> None:
        """Moderated events fill the recent-events store; a report, or a moderator's confirmation
        of one, counts only for an event in it, from the account it names, and goes on as
        evidence keyed by that account."""

        async def verify(events: Sequence[EventT]) -> None:
            out: list[Outgoing] = []
            for event in events:
                raw = _raw(event)
                # records of this partition folded elsewhere (another worker, another data dir)
                # first, so the report in hand is checked against every event before it
                await self._caught_up(raw.partition, raw.offset)
                try:
                    record = internal_record(raw, self.pipeline.signer)
                    result = self._verify(raw, record) if isinstance(record, dict) else record
                except InvalidRecord as exc:  # a forged record with the wrong shape
                    result = Rejected("invalid_field", str(exc))
                except Exception as exc:  # a bug
                    result = internal_error(exc)
                self.recent_events.folded(raw.partition, raw.offset)
                out.extend(self._outputs(raw, result))
            await self.pipeline.send(out)

        try:
            await self._each_batch(stream, verify, writes_state=True)
        finally:
            await self._replay.stop()

    async def _caught_up(self, partition: int, offset: int) -> None:
        """:func:`catch_up`, again until it succeeds: while the broker is away its reads time
        out (40 s), and the error crashed the agent, which Faust restarts but does not feed
        again (a two-minute outage stopped report verification for good)."""
        while True:
            try:
                await catch_up(self.recent_events, self.settings, partition, offset, self._replay)
                return
            except (KafkaError, OSError, TimeoutError) as exc:
                if self.app.should_stop:
                    raise
                log.warning("recent events: catching up partition %d failed: %r", partition, exc)
                await self._replay.stop()  # a fresh reader for the next try
                await asyncio.sleep(1.0)

    def _verify(self, raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
        if record["kind"] == "seen":
            try:
                entries = seen_entries(record, most_seen(self.settings.batch_size))
            except InvalidRecord as exc:
                return Rejected("invalid_field", str(exc))
            except ValueError as exc:
                return Rejected("oversize_field", str(exc))
            self.recent_events.add(entries, float(record["at"]), raw.partition, raw.offset)
            return []
        if record["kind"] == "confirmation":
            return self._verify_confirmation(raw, record)
        check_report_fields(record, record.get("weight"))
        dated = report_time_problem(record, time.time(), self.settings.strike_window_s)
        if dated is not None:
            return dated
        seen = self.recent_events.account(record["event_id"], claimed=record["account_id"])
        rejected = check_report(record, seen)
        if rejected is not None and rejected.kind == "unknown_event":
            # the report may have overtaken its event: check it again later
            return self._retry_or_refuse(raw, record, rejected)
        self.waiting_room.leave(raw.partition, record)
        if rejected is not None:
            return rejected
        strike = report_strike(record, record["weight"])
        account = record["account_id"].encode()
        strikes_topic = self.settings.topic(topics.ACCOUNT_STRIKES)
        out = [Outgoing(strikes_topic, account, orjson.dumps(strike), raw)]
        reporter = record["reporter_id"]
        if self.recent_events.first_report(record["event_id"], reporter, record["report_id"]):
            # counted in the reporter's record once per event, whatever its report ids
            by_reporter = self.settings.topic(topics.REPORTS_BY_REPORTER)
            verified = orjson.dumps(verified_record(record))
            out.append(Outgoing(by_reporter, reporter.encode(), verified, raw))
        return out

    def _verify_confirmation(
        self, raw: RawMessage, record: dict[str, Any]
    ) -> list[Outgoing] | Rejected:
        """A moderator's confirmation strikes the account it names only if the event came from
        that account (``streams.reports.confirmation``)."""
        event_id, account_id = record.get("event_id"), record.get("account_id")
        seen = None
        if isinstance(event_id, str) and isinstance(account_id, str):
            seen = self.recent_events.account(event_id, claimed=account_id)
        strike = confirmed_strike_of(record, seen)
        if isinstance(strike, Rejected) and strike.kind == "unknown_event":
            # confirmed before its event was moderated (a backlog): checked again later
            return self._retry_or_refuse(raw, record, strike)
        self.waiting_room.leave(raw.partition, record)
        if isinstance(strike, Rejected):
            return strike
        account = str(account_id).encode()
        strikes_topic = self.settings.topic(topics.ACCOUNT_STRIKES)
        return [Outgoing(strikes_topic, account, orjson.dumps(strike), raw)]

    def _retry_or_refuse(
        self, raw: RawMessage, record: dict[str, Any], refusal: Rejected
    ) -> list[Outgoing] | Rejected:
        """``streams.report_retry.retry_or_refuse``, with this worker's rooms."""
        result = retry_or_refuse(
            raw,
            record,
            refusal,
            self.settings,
            time.time(),
            self.moderation.passed,
            self.waiting_room,
        )
        metrics.REPORTS_WAITING.set(self.waiting_room.waiting())
        return result

    async def _retry_reports(self, stream: StreamT) -> None:
        """Reports that arrived before their event was moderated → back on ``events.by_id``
        once due (``streams.report_retry``), a batch at a time: records are due in the order the
        broker took them, so each waits for the one before it at most. The waits come before
        the exactly-once hand-over guard, so they never hold up a commit."""
        out: list[Outgoing] = []

        async def wait_until_due(events: Sequence[EventT]) -> None:
            out.clear()
            hold_until = time.time() + MOST_HOLD_S  # for the whole batch
            for event in events:
                raw = _raw(event)
                out.extend(self._outputs(raw, await self._retried(event, raw, hold_until)))

        async def send_back(events: Sequence[EventT]) -> None:
            await self.pipeline.send(out)

        await self._each_batch(stream, send_back, before=wait_until_due)

    async def _retried(
        self, event: EventT, raw: RawMessage, hold_until: float
    ) -> list[Outgoing] | Rejected:
        """A waiting report sent back once due (held while moderation is behind, up to
        ``hold_until``), or why the record is refused."""
        record = internal_record(raw, self.pipeline.signer)
        if isinstance(record, Rejected):
            return record
        try:
            wait = due_in(record, self.settings, time.time(), _appended_at(event))
            # built before the wait, so a malformed record is refused at once
            back = sent_back(raw, record, self.settings, time.time())
        except ValueError as exc:  # a forged record: not one a worker sent back
            return Rejected("invalid_field", str(exc))
        except Exception as exc:  # a field missing, or a bug: never the agent's end
            return internal_error(exc)
        await self._wait_unless_leaving(wait)
        await self._hold_while_behind(record, hold_until)
        return [back]

    async def _hold_while_behind(self, record: dict[str, Any], hold_until: float) -> None:
        """Hold a due report while the fleet's moderation has not passed its first check, up to
        ``report_backlog_wait_s`` after it and ``hold_until`` (or until the worker stops or its
        partitions move). Sent back every ``report_retry_s`` instead, each waiting report went
        round once per interval for as long as moderation was behind: 480 checks in a two-hour
        backlog, 30 now (a batch is held at most :data:`MOST_HOLD_S`, under Faust's 300 s
        before it logs a partition's stream or commits as stuck)."""
        if not record.get("waiting_since"):  # every worker writes it: a forged record
            return
        since = waiting_of(record, time.time()).waiting_since
        until = min(since + longest_wait(self.settings), hold_until)
        while not (
            self.moderation.passed(since)
            or time.time() >= until
            or self.app.should_stop
            or self.app.rebalancing
        ):
            await asyncio.sleep(0.5)

    async def _wait_unless_leaving(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the worker stops or its partitions are being
        reassigned: a report sent back early is only checked once more."""
        deadline = time.monotonic() + seconds
        while not (self.app.should_stop or self.app.rebalancing):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.5))

    async def configure_logs(self) -> None:
        """aiokafka logs every send at DEBUG; even dropped by the handler, building those records
        cost 5% of a worker's time in profiles. Keep its loggers at WARNING unless asked for
        debug. Faust's producer buffer warns each time a batch's table writes queue more than 100
        changelog records and it flushes them before the next batch: flow control at work, not
        a fault, so it logs at ERROR only."""
        if self.settings.log_level.lower() != "debug":
            for name in ("aiokafka", "faust.topics", "faust.transport"):
                logging.getLogger(name).setLevel(logging.WARNING)
            logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
        if self.settings.log_json:
            use_json_logs()
        limit_repeated_warnings()  # a broker outage makes every client log each retry

    async def follow_registry(self) -> None:
        """Switch to a newly promoted model; announce the switch on ``model.updates``."""
        new_version = await self.holder.refresh()
        if new_version is not None:
            update = ModelUpdate.model(WORKER_ID, new_version, time.time())
            updates = self.settings.topic(topics.MODEL_UPDATES)
            await self.pipeline.send([Outgoing(updates, None, orjson.dumps(update))])

    async def _learn_contacts(self, stream: StreamT) -> None:
        """Contact tokens of blocked events (keyed by token) → the learned list
        (``moderation.learned``)."""
        await self._each_internal(stream, self._learn)

    def _learn(self, raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
        """Count one blocked event for its token; teach the fleet the token once it has enough
        events from enough accounts (again when half its TTL has passed and the spam goes on)."""
        settings = self.settings
        token, kind = record.get("token"), record.get("token_kind")
        account = record.get("account_id")
        if (
            record.get("kind") != "blocked_contact"
            or kind not in LEARNED_KINDS
            or not learnable(str(kind), token)
            or not isinstance(account, str)
            or raw.key != str(token).encode()
        ):
            return Rejected("invalid_field", "not a blocked_contact record keyed by its token")
        now = time.time()
        at = record.get("at")
        at = min(float(at), now) if isinstance(at, int | float) else now
        event_id = record.get("event_id")
        event_id = event_id[: settings.max_id_chars] if isinstance(event_id, str) else ""
        if now - at > settings.learn_window_s:  # out of every window that could count it
            return Rejected("stale_signal", "blocked-contact evidence older than the learn window")
        token = str(token)
        windows = self.contact_evidence[token]
        # the previous window's state carries over, so the evidence slides across windows
        previous = windows.current() or windows.delta(settings.learn_window_s)
        if not previous and not self._new_tokens.take(now):
            metrics.LEARN_EVIDENCE_DROPPED.inc()
            return []
        state, ready = observe(
            previous,
            account[: settings.max_id_chars],
            at,
            window_s=settings.learn_window_s,
            min_events=settings.learn_min_events,
            min_accounts=settings.learn_min_accounts,
            event_id=event_id,
        )
        out = []
        if ready and float(state.get("learned_until", 0.0)) <= now + settings.learn_ttl_s / 2:
            learned = LearnedContact.teach(
                token,
                str(kind),
                str(record.get("category")),
                evidence(state),
                now,
                settings.learn_ttl_s,
            )
            state["learned_until"] = learned.expires_at
            learned_topic = settings.topic(topics.LEARNED)
            out.append(Outgoing(learned_topic, token.encode(), orjson.dumps(learned), raw))
            metrics.LEARNED_TOKENS.inc()
            log.info("teaching the fleet %s %s: %s", kind, token, learned)
        put(self.contact_evidence, "contact-evidence", token, state)
        return out

    async def _escalate_members(self, stream: StreamT) -> None:
        """Accounts a harmful campaign escalated (keyed by account) → one account action per
        account and campaign."""
        await self._each_internal(stream, self._escalate)

    def _escalate(self, raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
        account, campaign_id = record.get("account_id"), record.get("campaign_id")
        event_id, category = record.get("event_id"), record.get("category")
        if (
            record.get("kind") != "campaign_member"
            or not isinstance(account, str)
            or raw.key != account.encode()
            or not valid_campaign_id(campaign_id)
            or not isinstance(event_id, str)
        ):
            return Rejected("invalid_field", "not a campaign_member record keyed by its account")
        window = self.settings.strike_window_s
        if not isinstance(record.get("at"), int | float):
            return Rejected("invalid_field", "a campaign member needs a numeric 'at'", event_id)
        # what remembers the campaign's accounts keeps them a window, filed under the record's
        # timestamp: a signed record re-sent later, or filed under another window, would
        # restrict its account for the campaign again
        stale = stale_signal(record, _record_time(), time.time(), window)
        if stale is not None:
            return stale
        windows = self.campaign_accounts[account]
        # the previous window's state carries over: one action per campaign, whichever window;
        # a campaign that sent the account to review may still restrict it once
        state = windows.current() or windows.delta(window)
        kind: AccountActionKind = (
            "restrict" if record.get("action", "restrict") == "restrict" else "review_account"
        )
        done = f"{campaign_id}:review" if kind == "review_account" else campaign_id
        acted = state.get("campaigns", [])
        if done in acted or campaign_id in acted:
            return []
        now = time.time()
        action = AccountAction(
            f"{account}:campaign:{done}",
            account,
            kind,
            0.0,
            {str(category) if isinstance(category, str) else "spam": 1.0},
            (f"campaign:{campaign_id}", event_id[: self.settings.max_id_chars]),
            (now // window) * window,  # the window the dedupe table keeps it for
            now,
        )
        campaigns = [*acted, done][-64:]
        put(self.campaign_accounts, "campaign-accounts", account, {**state, "campaigns": campaigns})
        metrics.ACCOUNT_ACTIONS.labels(action=kind).inc()
        log.info("%s %s for campaign %s", kind, account, campaign_id)
        actions = self.settings.topic(topics.ACCOUNT_ACTIONS)
        return [Outgoing(actions, account.encode(), orjson.dumps(action), raw)]

    async def _count_senders(self, stream: StreamT) -> None:
        """Chat messages by account (``sender.activity``) → each account's behaviour → review
        for an account that sent one text to many conversations (``account.actions``)."""
        await self._each_internal(stream, self._count)

    def _count(self, raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
        """Count each message of one record under its account; send an account whose text
        reached ``sender_conversations`` conversations to review, once per window."""
        settings = self.settings
        messages = record.get("messages")
        if (
            record.get("kind") != "sender_activity"
            or not isinstance(messages, list)
            or not all(_sender_message(m) for m in messages)
        ):
            return Rejected("invalid_field", "not a sender_activity record")
        # a record holds one batch's messages of one partition; a forged one of 1 MB holds
        # tens of thousands, each a table update on the event loop
        most = max(MAX_SENDER_MESSAGES, 4 * settings.batch_size)
        if len(messages) > most:
            return Rejected("oversize_field", f"{len(messages)} messages; the limit is {most}")
        now = time.time()
        at = record.get("at")
        if not isinstance(at, int | float) or isinstance(at, bool):
            return Rejected("invalid_field", "a sender_activity record without its time, at")
        # a signed record re-sent later counts at its own time, and only within a strike window
        stale = stale_signal(
            {"event_id": "", "at": at}, _record_time(), now, settings.strike_window_s
        )
        if stale is not None:
            return stale
        at = min(float(at), now)
        window, threshold, limit = (
            settings.sender_window_s,
            settings.sender_conversations,
            settings.max_id_chars,
        )
        by_account: dict[str, list[Activity]] = {}
        for event_id, account, conversation, text, contact in messages:
            activity = Activity(event_id[:limit], conversation[:limit], text, contact, at)
            by_account.setdefault(account[:limit], []).append(activity)
        out = []
        for account, activities in by_account.items():  # one table write per account
            windows = self.sender_activity[account]
            # the previous window's state carries over, so the count slides across windows
            state = windows.current() or windows.delta(window)
            for activity in activities:
                state = observe_sender(state, activity, threshold=threshold, window_s=window)
                evidence = burst(state, activity.text, threshold)
                if evidence and review_due(state, at, window):
                    state["reviewed_at"] = at
                    counts = behaviour(state, window)
                    action = review_action(
                        account, evidence, counts, threshold, window, activity.at, now
                    )
                    topic = settings.topic(topics.ACCOUNT_ACTIONS)
                    out.append(Outgoing(topic, account.encode(), orjson.dumps(action), raw))
                    metrics.SENDER_REVIEWS.inc()
                    metrics.ACCOUNT_ACTIONS.labels(action="review_account").inc()
                    log.info("sending %s to review: %s (%s)", account, action.reason, counts)
            put(self.sender_activity, "sender-activity", account, state)
        metrics.SENDER_MESSAGES.inc(len(messages))
        return out

    async def follow_campaigns(self) -> None:
        """Mark (and for harmful ones, block) members of every live campaign."""
        await self.campaigns.follow(self.settings)

    async def follow_learned(self) -> None:
        """Serve every learned contact token from ``moderation.learned``."""
        await self.learned.follow(self.settings)

    async def follow_rules(self) -> None:
        """Serve each newer valid rules version from ``moderation.rules``; announce the switch
        on ``model.updates``."""

        async def announce(version: str) -> None:
            update = ModelUpdate.rules(WORKER_ID, version, time.time())
            updates = self.settings.topic(topics.MODEL_UPDATES)
            await self.pipeline.sink.send_all([Outgoing(updates, None, orjson.dumps(update))])

        await self.rules.follow(self.settings, announce)

    def producers(self) -> dict[str, Any]:
        """The worker's running aiokafka producers by name: Faust's (one per transaction under
        exactly-once) and the batch reader's."""
        found: dict[str, Any] = {}
        faust_producer = cast(Any, self.app)._producer  # not app.producer: that would make one
        if faust_producer is not None:
            if faust_producer._producer is not None:
                found["faust"] = faust_producer._producer
            for transactional_id, producer in faust_producer._transaction_producers.items():
                found[f"faust transaction {transactional_id}"] = producer
        reader_producer = getattr(self.batch_reader, "_producer", None)
        if isinstance(self.batch_reader, BatchReader) and reader_producer is not None:
            found["batch reader"] = reader_producer
        if self.campaign_fold is not None and self.campaign_fold._producer is not None:
            found["campaign fold"] = self.campaign_fold._producer
        return found

    async def watch_producers(self) -> None:
        """Wake a producer that has not delivered for a while; note a stalled one for
        ``/health`` (``streams.producer_watch``)."""
        self.producer_watch.check(self.producers(), time.monotonic())

    async def watch_partitions(self) -> None:
        """Read where the worker is in each input partition it moderates and where each ends,
        for ``/health`` and the metrics (``streams.partition_progress``)."""
        faust_consumer = cast(Any, self.app)._consumer  # not app.consumer: that makes one
        consumer = getattr(getattr(faust_consumer, "_thread", None), "_consumer", None)
        everything = partition_progress.aiokafka_offsets(consumer)  # Faust's, in its thread
        scored = {self.settings.topic(name) for name in kinds.SCORED_TOPICS}
        if self.batch_reader is not None:
            offsets = self.batch_reader.partition_offsets()
        else:  # the scored topics' partitions are Faust's consumer's too
            offsets = {tp: at for tp, at in everything.items() if tp[0] in scored}
        self.partition_progress.observe(offsets, time.monotonic())
        self.agent_lag.observe({tp: at for tp, at in everything.items() if tp[0] not in scored})

    def health(self) -> tuple[dict[str, Any], int]:
        """Liveness (``/health``'s body and status): the event loop answers, no agent nor the
        batch reader has crashed, and every producer delivers (else 503). An input partition
        whose records wait behind a position that stands still makes it ``degraded``, still 200:
        a restart would not end the transaction that holds it."""
        crashed = dict(self.crashed)
        if self.batch_reader is not None and self.batch_reader.crashed:
            crashed["batch_reader"] = repr(self.batch_reader.crash_reason)
        if self.campaign_fold is not None and self.campaign_fold.crashed:
            crashed["campaign_fold"] = repr(self.campaign_fold.crash_reason)
        stalled = dict(self.producer_watch.stalled)
        held = self.partition_progress.stalled(time.monotonic())
        status = "crashed" if crashed else "stalled" if stalled else "degraded" if held else "ok"
        body = {
            "status": status,
            "worker": WORKER_ID,
            "crashed_agents": crashed,
            "stalled_producers": stalled,
            "stalled_partitions": held,
        }
        if crashed or stalled:
            log.warning("unhealthy: %s", {**crashed, **stalled})
        return body, 503 if crashed or stalled else 200

    def readiness(self) -> tuple[dict[str, Any], int]:
        """Readiness (``/ready``'s body and status): a model is loaded, the tables are recovered
        from their changelogs (not in a rebalance), this worker has partitions of chat messages
        or posts (or, on the Faust ingest path, any partitions) assigned, and nothing an
        operator must fix is wrong (``problems``: a registry a restart could not load from, a
        label store that cannot be written, a data disk short of room). The body names no filesystem path."""
        app, holder, reader = self.app, self.holder, self.batch_reader
        tables_ready = cast(Any, app.tables).recovery.completed.is_set() and not app.rebalancing
        faust_assigned = len(app.consumer.assignment()) if app.consumer is not None else 0
        batch_assigned = len(reader.assignment()) if reader is not None else 0
        problems = [
            p
            for p in (holder.registry_problem, self.label_store_problem, self.disk.problem)
            if p is not None
        ]
        body = {
            "model_version": holder.current.version if holder.loaded else None,
            "ingest": self.settings.ingest_path,
            "assigned_partitions": faust_assigned + batch_assigned,
            "moderation_partitions": batch_assigned if reader is not None else None,
            "last_model_error": holder.last_error,
            "problems": problems,
            "refused_model": (
                {"version": holder.refused.version, "reason": holder.refused.reason}
                if holder.refused is not None
                else None
            ),
            "tables_recovered": tables_ready,
            "rules_version": self.rules.current.version,
            "last_rules_error": self.rules.last_error,
        }
        ok = (
            holder.loaded
            and tables_ready
            and (batch_assigned if reader is not None else faust_assigned) > 0
            and not problems
        )
        return body, 200 if ok else 503

    def report_state(self) -> None:
        """Set the state gauges from the stores' own estimates (``streams.state_size``): on
        scrape, so no event pays for them."""
        report(
            {
                "campaign-bands": total_size(
                    self.campaign_fold.store.databases() if self.campaign_fold else []
                ),
                "account-strikes": total_size(table_databases(self.strikes_table)),
                "campaign-accounts": total_size(table_databases(self.campaign_accounts)),
                "sender-activity": total_size(table_databases(self.sender_activity)),
                "contact-evidence": total_size(table_databases(self.contact_evidence)),
                "reporters": total_size(table_databases(self.reporters_table)),
                "recent-events": total_size(self.recent_events.databases()),
            }
        )

    def _declare_web_views(self) -> None:
        """``/health`` (open), ``/ready`` and ``/metrics`` (behind ``CHATGUARD_WEB_TOKEN``)."""
        settings = self.settings

        @self.app.page("/health")
        async def health(web: Any, request: Any) -> Any:
            body, status = self.health()
            return web.json(body, status=status)

        @self.app.page("/ready")
        async def ready(web: Any, request: Any) -> Any:
            if not authorized(settings, request):
                return _unauthorized(web)
            body, status = self.readiness()
            return web.json(body, status=status)

        @self.app.page("/metrics")
        async def prometheus_metrics(web: Any, request: Any) -> Any:
            if not authorized(settings, request):
                return _unauthorized(web)
            self.report_state()
            return web.bytes(metrics.render(), content_type="text/plain")


def disk_table(app: AppT, settings: Settings, name: str, window_s: float | None = None) -> Any:
    """A table of dicts on disk (RocksDB, recovered from its changelog), one partition per
    input partition; with ``window_s``, tumbling windows of that length kept for two."""
    table = app.Table(
        name,
        default=dict,
        partitions=settings.topic_partitions,
        store=f"rocksdb:{settings.app_id}-{name}",
        options=table_store_options(),
    )
    return table if window_s is None else table.tumbling(window_s, expires=2 * window_s)


def table_store_options() -> dict[str, Any]:
    """RocksDB options of the Faust tables on disk (a fresh dict each: Faust pops keys from
    it). Faust's defaults give each partition's database up to three 64 MB write buffers and a
    2 GB block cache: a worker's tables have 8 partitions each, and their memory held the
    state they were meant to keep off the heap (40,000 struck accounts: 4.3 KB each in memory,
    3.7 KB each on disk with those defaults)."""
    return {
        "driver": "rocksdict",
        "write_buffer_size": 4 * 1024 * 1024,
        "max_write_buffer_number": 2,
        "block_cache_size": 8 * 1024 * 1024,
    }


def build_worker(settings: Settings, sink: OutputSink | None = None) -> Worker:
    """A new worker wired from ``settings`` (``python -m streams worker`` runs
    ``build_worker(Settings.from_env()).app``); ``sink`` as in :class:`Worker`."""
    return Worker(settings, sink)


def _sender_message(entry: object) -> bool:
    """Whether ``entry`` is one message of a ``sender_activity`` record."""
    return (
        isinstance(entry, list)
        and len(entry) == 5
        and all(isinstance(v, str) for v in entry[:4])
        and bool(entry[1])
        and len(entry[3]) <= 16
        and isinstance(entry[4], bool)
    )


def ahead_of_time(event: EventT) -> Rejected | None:
    """Why a record of an internal topic stamped in the future is refused, or None. Windowed
    tables file a change under the record's timestamp, which its producer picks: one signed
    strike signal re-sent 200,000 times, each under a timestamp of another window to come, held
    215 MB of a worker, and again after a restart (the clean-up drops windows older than now)."""
    ahead = float(event.message.timestamp) - time.time()
    if ahead <= FUTURE_SLACK_S:
        return None
    return Rejected("invalid_value", f"the record is stamped {ahead:.0f} s in the future")


def _record_time() -> float:
    """The timestamp of the record in hand (Faust's current event, :func:`_handling`): the time
    a windowed table files its change under."""
    event = current_event()
    return float(event.message.timestamp) if event is not None else time.time()


def _appended_at(event: EventT) -> float | None:
    """The broker's append time of ``event``'s record, if its topic keeps that rather than
    the time its producer claims (``LogAppendTime``, aiokafka's timestamp type 1)."""
    message = event.message
    if message.timestamp_type == 1 and message.timestamp:
        return float(message.timestamp)
    return None


def _handling(event: EventT) -> None:
    """Make ``event`` Faust's current event in this task while a batch handles it: a table
    writes its changelog to the current event's partition, and a windowed table's window
    follows the current event's time. Only the context variable tables read is set: the
    stream's own ``current_event`` is what ``noack_take``'s background reader takes the next
    event from, and setting it there swapped an event that arrived meanwhile for one of the
    batch's (the new one was never handled, the old one twice)."""
    faust_current_event.set(weakref.ref(event))


def _raw(event: EventT) -> RawMessage:
    message = event.message
    headers = message.headers or ()
    pairs = tuple(headers.items() if isinstance(headers, Mapping) else headers)
    return RawMessage(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        pairs,
        key_size=message.serialized_key_size,
        value_size=message.serialized_value_size,
    )


def errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "other")


def _unauthorized(web: Any) -> Any:
    return web.json(
        {"error": "this endpoint needs Authorization: Bearer <CHATGUARD_WEB_TOKEN>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="chatguard"'},
    )
