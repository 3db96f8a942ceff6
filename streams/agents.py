"""The Faust agents: consume, hand batches to the pipeline, keep the strikes table. No ML here.

Agents take batches with ``take_events(max, within=...)``: a ``within`` is required or a quiet
partition stalls the batch, and ``take_events`` acks the batch's events only after the loop body
has run, so an offset is committed only once its decision has been handed to the producer (which
Faust flushes before every commit). ``concurrency`` stays 1 per agent for the same reason
(robinhood/faust#682: concurrent agents can commit past work still in flight).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson
from faust import Stream
from faust.types import AgentT, EventT, StreamT, TopicT

from streams import metrics, topics
from streams.app import app, settings
from streams.batch_reader import BatchReader
from streams.decoding import Rejected
from streams.enforcement import action_record, apply_strike
from streams.labels import LabelStore
from streams.logs import use_json_logs
from streams.model_holder import ModelHolder
from streams.moderators import moderator_key
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage
from streams.reporters import apply_outcome, count_report, reliability, stats_record
from streams.reports import check_report, report_strike, seen_entries
from streams.sinks import FaustSink

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def _raw_topic(name: str) -> TopicT:
    return app.topic(
        settings.topic(name),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


holder = ModelHolder(settings)
pipeline = ModerationPipeline(settings, holder, FaustSink(app))
label_store = LabelStore(settings.label_store)
moderator_hmac_key = moderator_key(settings)

reports_topic = _raw_topic(topics.USER_REPORTS)
labels_topic = _raw_topic(topics.MODERATOR_LABELS)
strikes_topic = _raw_topic(topics.ACCOUNT_STRIKES)
moderator_decisions_topic = _raw_topic(topics.MODERATOR_DECISIONS)
reports_by_reporter_topic = _raw_topic(topics.REPORTS_BY_REPORTER)
events_by_id_topic = _raw_topic(topics.EVENTS_BY_ID)

strikes_table = app.Table(
    "account-strikes",
    default=dict,
    partitions=settings.topic_partitions,
).tumbling(settings.strike_window_s, expires=settings.strike_window_s)
# reporter id → reports, outcomes, decided report ids (streams.reporters)
reporters_table = app.Table("reporters", default=dict, partitions=settings.topic_partitions)
# event id → its account, for every event moderated in the last one or two strike windows; on
# disk (RocksDB through rocksdict), since it holds every recent event, not just the abusive ones
recent_events = app.Table(
    "recent-events",
    default=str,
    partitions=settings.topic_partitions,
    # one database per app id, like the changelog topic it mirrors: a data dir reused by another
    # app id must not hold offsets of a changelog this app never wrote (Faust refuses to start)
    store=f"rocksdb:{settings.app_id}-recent-events",
    options={"driver": "rocksdict"},
).tumbling(settings.strike_window_s, expires=2 * settings.strike_window_s)


def _batches(stream: StreamT) -> AsyncIterator[Sequence[EventT]]:
    """Batches of up to ``batch_size`` events, or whatever arrived within ``batch_window_s``."""
    return cast(Stream, stream).take_events(settings.batch_size, within=settings.batch_window_s)


def _internal(event: EventT) -> dict[str, Any] | None:
    """A record of an internal topic (written by this app), or None, logged, if unreadable."""
    try:
        record = orjson.loads(event.value)
        if isinstance(record, dict) and isinstance(record.get("kind"), str):
            return record
    except orjson.JSONDecodeError:
        pass
    log.error("unreadable record on %s: %r", event.message.tp, event.value[:200])
    return None


def _raw(event: EventT) -> RawMessage:
    message = event.message
    return RawMessage(message.topic, message.partition, message.offset, message.key, message.value)


async def _moderate_stream(stream: StreamT) -> None:
    """Chat messages and posts → one decision or dead letter each (the ``faust`` ingest path)."""
    async for events in _batches(stream):
        await pipeline.moderate([_raw(event) for event in events])


moderate_events: AgentT | None = None
batch_reader: BatchReader | None = None
if settings.ingest_path == "faust":
    # a Faust agent: exactly-once through Faust's transactions, at Faust's per-event cost
    moderate_events = app.agent(
        app.topic(
            settings.topic(topics.CHAT_MESSAGES),
            settings.topic(topics.POSTS),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        ),
        name="moderate_events",
    )(_moderate_stream)
else:
    # the fast path: batches straight from Kafka, a service of this Faust worker
    batch_reader = BatchReader(settings, holder)
    app.service(batch_reader)  # type: ignore[arg-type]


@app.agent(reports_topic, name="collect_reports")
async def collect_reports(stream: StreamT) -> None:
    """User reports → validated, keyed by reporter, to be weighed (``weigh_reports``)."""
    async for events in _batches(stream):
        for event in events:
            await pipeline.report(_raw(event))


@app.agent(labels_topic, name="store_labels")
async def store_labels(stream: StreamT) -> None:
    """Moderator labels → the labelled-data store that retraining reads."""
    async for events in _batches(stream):
        valid: list[dict[str, Any]] = []
        for event in events:
            raw = _raw(event)
            result = pipeline.moderator_record(raw, moderator_hmac_key)
            if isinstance(result, Rejected):
                await pipeline.dead_letter(raw, result)
            else:
                valid.append(result.data)
        metrics.LABELS_STORED.inc(label_store.append(valid))


@app.agent(strikes_topic, name="enforce_accounts")
async def enforce_accounts(stream: StreamT) -> None:
    """Strike signals (keyed by account) → the windowed strikes table → account actions."""
    actions_topic = settings.topic(topics.ACCOUNT_ACTIONS)
    window = settings.strike_window_s
    async for event in stream.events():
        try:
            strike = orjson.loads(event.value)
            account = event.key.decode() if event.key else strike["account_id"]
        except (orjson.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
            log.error("unreadable strike signal at %s: %s", event.message.tp, exc)
            continue
        state = strikes_table[account].current()
        new_state, action = apply_strike(
            state,
            strike,
            restrict_at=settings.restrict_strikes,
            suspend_at=settings.suspend_strikes,
            review_at=settings.review_reports,
        )
        if new_state is state:
            continue
        strikes_table[account] = new_state
        if action is None:
            continue
        window_start = (event.message.timestamp // window) * window
        record = action_record(account, action, new_state, window_start, time.time())
        await pipeline.sink.send_all(
            [Outgoing(actions_topic, account.encode(), orjson.dumps(record))]
        )
        metrics.ACCOUNT_ACTIONS.labels(action=action).inc()


@app.agent(moderator_decisions_topic, name="collect_moderator_decisions")
async def collect_moderator_decisions(stream: StreamT) -> None:
    """Signed confirm / reject decisions → strikes for confirmed reports, reporters' outcomes."""
    async for events in _batches(stream):
        for event in events:
            await pipeline.moderator_decision(_raw(event), moderator_hmac_key)


@app.agent(reports_by_reporter_topic, name="weigh_reports")
async def weigh_reports(stream: StreamT) -> None:
    """Reports and outcomes keyed by reporter → the reporters table, ``reporter.stats``, and
    each report weighed by its reporter's reliability, on to its event's partition."""
    stats_topic = settings.topic(topics.REPORTER_STATS)
    by_event = settings.topic(topics.EVENTS_BY_ID)
    async for event in stream.events():
        record = _internal(event)
        if record is None:
            continue
        reporter = record["reporter_id"]
        stats = reporters_table[reporter]
        out: list[Outgoing] = []
        if record["kind"] == "outcome":
            new_stats = apply_outcome(stats, record["report_id"], record["outcome"])
            if new_stats is stats:
                continue
        else:
            new_stats = count_report(stats)
            weighed = {**record, "weight": reliability(stats)}
            out.append(Outgoing(by_event, record["event_id"].encode(), orjson.dumps(weighed)))
        reporters_table[reporter] = new_stats
        stats_value = orjson.dumps(stats_record(reporter, new_stats, time.time()))
        out.append(Outgoing(stats_topic, reporter.encode(), stats_value))
        await pipeline.sink.send_all(out)


@app.agent(events_by_id_topic, name="verify_reports")
async def verify_reports(stream: StreamT) -> None:
    """Moderated events fill the recent-events table; a report counts only for an event in it,
    from the account it names, and goes on as review evidence keyed by that account."""
    strikes = settings.topic(topics.ACCOUNT_STRIKES)
    async for event in stream.events():
        record = _internal(event)
        if record is None:
            continue
        if record["kind"] == "seen":
            for event_id, account in seen_entries(record):
                recent_events[event_id] = account
            continue
        windows = recent_events[record["event_id"]]
        seen = windows.current() or windows.delta(settings.strike_window_s)
        rejected = check_report(record, seen or None)
        if rejected is not None:
            await pipeline.dead_letter(_raw(event), rejected)
            continue
        strike = report_strike(record, record["weight"])
        account = record["account_id"].encode()
        await pipeline.sink.send_all([Outgoing(strikes, account, orjson.dumps(strike))])


@app.task
async def configure_logs() -> None:
    """aiokafka logs every send at DEBUG; even dropped by the handler, building those records
    cost 5% of a worker's time in profiles. Keep its loggers at WARNING unless asked for debug."""
    if settings.log_level.lower() != "debug":
        for name in ("aiokafka", "faust.topics", "faust.transport"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if settings.log_json:
        use_json_logs()


@app.timer(interval=settings.model_poll_s)
async def follow_registry() -> None:
    """Switch to a newly promoted model; announce the switch on ``model.updates``."""
    new_version = await holder.refresh()
    if new_version is not None:
        update = {"worker": WORKER_ID, "version": new_version, "switched_at": time.time()}
        await pipeline.sink.send_all(
            [Outgoing(settings.topic(topics.MODEL_UPDATES), None, orjson.dumps(update))]
        )


@app.page("/health")
async def health(web: Any, request: Any) -> Any:
    """Liveness: the event loop answers and no agent actor has crashed (a crashed actor would
    leave its partitions unprocessed while the process looks alive, faust-streaming #175)."""
    crashed = {
        agent.name: repr(actor.crash_reason)
        for agent in app.agents.values()
        for actor in list(cast(Any, agent)._actors)
        if actor.crashed
    }
    if batch_reader is not None and batch_reader.crashed:
        crashed["batch_reader"] = repr(batch_reader.crash_reason)
    body = {
        "status": "crashed" if crashed else "ok",
        "worker": WORKER_ID,
        "crashed_agents": crashed,
    }
    return web.json(body, status=503 if crashed else 200)


@app.page("/ready")
async def ready(web: Any, request: Any) -> Any:
    """Readiness: a model is loaded and this worker has partitions of chat messages or posts
    (or, on the Faust ingest path, any partitions) assigned."""
    faust_assigned = len(app.consumer.assignment()) if app.consumer is not None else 0
    batch_assigned = len(batch_reader.assignment()) if batch_reader is not None else 0
    body = {
        "model_version": holder.current.version if holder.loaded else None,
        "ingest": settings.ingest_path,
        "assigned_partitions": faust_assigned + batch_assigned,
        "moderation_partitions": batch_assigned if batch_reader is not None else None,
        "last_model_error": holder.last_error,
    }
    ok = holder.loaded and (batch_assigned if batch_reader is not None else faust_assigned) > 0
    return web.json(body, status=200 if ok else 503)


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Any) -> Any:
    return web.bytes(metrics.render(), content_type="text/plain")
