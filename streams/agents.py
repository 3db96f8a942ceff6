"""The Faust agents: consume, hand batches to the pipeline, keep the strikes table. No ML here.

Agents take batches with ``noack_take(max, within=...)`` and ack a batch's events themselves once
the loop body has handled them (``take_events`` acks in a ``finally``, so a batch whose handling
raised, or was cancelled at shutdown, would be committed unhandled). A ``within`` is required or a
quiet partition stalls the batch. An offset is committed only once its outcome has been handed to
the producer (which Faust flushes before every commit). ``concurrency`` stays 1 per agent for the
same reason (robinhood/faust#682: concurrent agents can commit past work still in flight).
Bad input becomes a dead letter; an unexpected exception for one event becomes that event's
``internal_error`` dead letter; only a sink that cannot send stops an agent, before its ack.
"""

from __future__ import annotations

import asyncio
import errno
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
from streams.decoding import Rejected, decode_strike
from streams.enforcement import apply_strike
from streams.labels import LabelStore, LabelStoreError
from streams.logs import limit_repeated_warnings, use_json_logs
from streams.model_holder import ModelHolder
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage, internal_error
from streams.sinks import FaustSink
from streams.transport import Transport
from streams.unreadable import UnreadableBatch
from streams.web_auth import authorized

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# a label store that fails is tried again after 0.5 s, 1 s, 2 s, ... at most this, and logged at
# most once a minute
RETRY_MAX_S = 10.0
LOG_EVERY_S = 60.0


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


async def _dead_letter_unreadable(batch: UnreadableBatch) -> None:
    """A batch Faust's consumer could not decompress and stepped over (``streams.transport``)."""
    await pipeline.dead_letter(batch.source(), batch.rejected())


cast(Transport, app.transport).on_unreadable = _dead_letter_unreadable

reports_topic = _raw_topic(topics.USER_REPORTS)
labels_topic = _raw_topic(topics.MODERATOR_LABELS)
strikes_topic = _raw_topic(topics.ACCOUNT_STRIKES)

strikes_table = app.Table(
    "account-strikes",
    default=dict,
    partitions=settings.topic_partitions,
).tumbling(settings.strike_window_s, expires=settings.strike_window_s)


async def _batches(stream: StreamT) -> AsyncIterator[Sequence[EventT]]:
    """Batches of up to ``batch_size`` events, or whatever arrived within ``batch_window_s``;
    each batch is acked when the loop body asks for the next one, i.e. after it handled it."""
    taken = cast(Stream, stream).noack_take(settings.batch_size, within=settings.batch_window_s)
    async for events in taken:
        yield events
        for event in events:
            await stream.ack(event)


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
    """User reports → strike signals keyed by the reported account."""
    async for events in _batches(stream):
        await pipeline.reports([_raw(event) for event in events])


@app.agent(labels_topic, name="store_labels")
async def store_labels(stream: StreamT) -> None:
    """Moderator labels → the labelled-data store that retraining reads."""
    async for events in _batches(stream):
        valid = await pipeline.labels([_raw(event) for event in events])
        await _store_labels(valid)


label_store_problem: str | None = None  # why the last append failed, shown on /ready


async def _store_labels(labels: list[dict[str, Any]]) -> None:
    """Append ``labels`` to the store, trying again with backoff for as long as it fails (a full
    disk): until then the batch is not acked, so the labels wait in Kafka."""
    global label_store_problem
    delay, logged_at = 0.5, float("-inf")
    loop = asyncio.get_running_loop()
    while True:
        try:
            stored = await loop.run_in_executor(None, label_store.append, labels)
        except LabelStoreError as exc:
            metrics.LABEL_STORE_OK.set(0)
            metrics.LABEL_STORE_ERRORS.labels(reason=errno_name(exc)).inc()
            problem = f"the label store cannot be written ({exc.strerror})"
            if problem != label_store_problem or time.monotonic() - logged_at >= LOG_EVERY_S:
                log.error("%s; %d labels wait in Kafka, retrying", problem, len(labels))
                logged_at = time.monotonic()
            label_store_problem = problem
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            continue
        if label_store_problem is not None:
            log.warning("the label store is writable again (%s before)", label_store_problem)
        label_store_problem = None
        metrics.LABEL_STORE_OK.set(1)
        metrics.LABELS_STORED.inc(stored)
        return


def errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "other")


@app.agent(strikes_topic, name="enforce_accounts")
async def enforce_accounts(stream: StreamT) -> None:
    """Strike signals (keyed by account) → the windowed strikes table → account actions."""
    async for event in stream.events():
        raw = _raw(event)
        outcome = _enforce(raw, event.message.timestamp)
        if isinstance(outcome, Rejected):
            await pipeline.dead_letter(raw, outcome)
        elif outcome is not None:
            await pipeline.send([outcome])
            metrics.ACCOUNT_ACTIONS.labels(action=orjson.loads(outcome.value)["action"]).inc()


def _enforce(raw: RawMessage, timestamp: float) -> Outgoing | Rejected | None:
    """One strike signal → the account's new state; the account action if it crossed a level,
    or why the signal is refused (the strikes topic is writable by anyone with access)."""
    strike = decode_strike(raw.value, raw.key, max_id_chars=settings.max_id_chars)
    if isinstance(strike, Rejected):
        return strike
    account = strike["account_id"]
    state = strikes_table[account].current()
    try:
        new_state, action = apply_strike(
            state,
            strike,
            restrict_at=settings.restrict_strikes,
            suspend_at=settings.suspend_strikes,
        )
        window = settings.strike_window_s
        window_start = (timestamp // window) * window
        record = {
            "action_id": f"{account}:{action}:{int(window_start)}",
            "account_id": account,
            "action": action,
            "strikes": new_state["strikes"],
            "categories": new_state["categories"],
            "evidence": new_state["evidence"],
            "window_start": window_start,
            "decided_at": time.time(),
        }
        value = orjson.dumps(record)
    except Exception as exc:  # a bug for one signal must not stop enforcement
        return internal_error(exc, strike["event_id"])
    if new_state is state:
        return None
    strikes_table[account] = new_state
    if action is None:
        return None
    return Outgoing(settings.topic(topics.ACCOUNT_ACTIONS), account.encode(), value, raw)


@app.task
async def configure_logs() -> None:
    """aiokafka logs every send at DEBUG; even dropped by the handler, building those records
    cost 5% of a worker's time in profiles. Keep its loggers at WARNING unless asked for debug."""
    if settings.log_level.lower() != "debug":
        for name in ("aiokafka", "faust.topics", "faust.transport"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if settings.log_json:
        use_json_logs()
    limit_repeated_warnings()  # a broker outage makes every client log each retry


@app.timer(interval=settings.model_poll_s)
async def follow_registry() -> None:
    """Switch to a newly promoted model; announce the switch on ``model.updates``."""
    new_version = await holder.refresh()
    if new_version is not None:
        update = {"worker": WORKER_ID, "version": new_version, "switched_at": time.time()}
        await pipeline.send(
            [Outgoing(settings.topic(topics.MODEL_UPDATES), None, orjson.dumps(update))]
        )


@app.page("/health")
async def health(web: Any, request: Any) -> Any:
    """Liveness: the event loop answers and no agent actor has crashed (a crashed actor would
    leave its partitions unprocessed while the process looks alive, faust-streaming #175)."""
    agents = (moderate_events, collect_reports, store_labels, enforce_accounts)
    crashed = {
        agent.name: repr(actor.crash_reason)
        for agent in agents
        if agent is not None
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
    """Readiness: a model is loaded, the tables are recovered from their changelogs (not in a
    rebalance), this worker has partitions of chat messages or posts (or, on the Faust ingest
    path, any partitions) assigned, and nothing an operator must fix is wrong (``problems``: a
    registry a restart could not load from, a label store that cannot be written). The body
    names no filesystem path."""
    if not authorized(settings, request):
        return _unauthorized(web)
    tables_ready = cast(Any, app.tables).recovery.completed.is_set() and not app.rebalancing
    faust_assigned = len(app.consumer.assignment()) if app.consumer is not None else 0
    batch_assigned = len(batch_reader.assignment()) if batch_reader is not None else 0
    problems = [p for p in (holder.registry_problem, label_store_problem) if p is not None]
    body = {
        "model_version": holder.current.version if holder.loaded else None,
        "ingest": settings.ingest_path,
        "assigned_partitions": faust_assigned + batch_assigned,
        "moderation_partitions": batch_assigned if batch_reader is not None else None,
        "last_model_error": holder.last_error,
        "problems": problems,
        "refused_model": (
            {"version": holder.refused.version, "reason": holder.refused.reason}
            if holder.refused is not None
            else None
        ),
        "tables_recovered": tables_ready,
    }
    ok = (
        holder.loaded
        and tables_ready
        and (batch_assigned if batch_reader is not None else faust_assigned) > 0
        and not problems
    )
    return web.json(body, status=200 if ok else 503)


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Any) -> Any:
    if not authorized(settings, request):
        return _unauthorized(web)
    return web.bytes(metrics.render(), content_type="text/plain")


def _unauthorized(web: Any) -> Any:
    return web.json(
        {"error": "this endpoint needs Authorization: Bearer <CHATGUARD_WEB_TOKEN>"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="chatguard"'},
    )
