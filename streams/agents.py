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
from streams.enforcement import apply_strike
from streams.labels import LabelStore
from streams.logs import use_json_logs
from streams.model_holder import ModelHolder
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage
from streams.rules_holder import SHARED as rules_holder
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

reports_topic = _raw_topic(topics.USER_REPORTS)
labels_topic = _raw_topic(topics.MODERATOR_LABELS)
strikes_topic = _raw_topic(topics.ACCOUNT_STRIKES)

strikes_table = app.Table(
    "account-strikes",
    default=dict,
    partitions=settings.topic_partitions,
).tumbling(settings.strike_window_s, expires=settings.strike_window_s)


def _batches(stream: StreamT) -> AsyncIterator[Sequence[EventT]]:
    """Batches of up to ``batch_size`` events, or whatever arrived within ``batch_window_s``."""
    return cast(Stream, stream).take_events(settings.batch_size, within=settings.batch_window_s)


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
        for event in events:
            await pipeline.report(_raw(event))


@app.agent(labels_topic, name="store_labels")
async def store_labels(stream: StreamT) -> None:
    """Moderator labels → the labelled-data store that retraining reads."""
    async for events in _batches(stream):
        valid: list[dict[str, Any]] = []
        for event in events:
            raw = _raw(event)
            result = pipeline.decode(raw)
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
        )
        if new_state is state:
            continue
        strikes_table[account] = new_state
        if action is None:
            continue
        window_start = (event.message.timestamp // window) * window
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
        await pipeline.sink.send_all(
            [Outgoing(actions_topic, account.encode(), orjson.dumps(record))]
        )
        metrics.ACCOUNT_ACTIONS.labels(action=action).inc()


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


@app.task
async def follow_rules() -> None:
    """Serve each newer valid rules version from ``moderation.rules``; announce the switch on
    ``model.updates``."""

    async def announce(version: str) -> None:
        update = {"worker": WORKER_ID, "rules_version": version, "switched_at": time.time()}
        await pipeline.sink.send_all(
            [Outgoing(settings.topic(topics.MODEL_UPDATES), None, orjson.dumps(update))]
        )

    await rules_holder.follow(settings, announce)


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
        "rules_version": rules_holder.current.version,
        "last_rules_error": rules_holder.last_error,
    }
    ok = holder.loaded and (batch_assigned if batch_reader is not None else faust_assigned) > 0
    return web.json(body, status=200 if ok else 503)


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Any) -> Any:
    return web.bytes(metrics.render(), content_type="text/plain")
