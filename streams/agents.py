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
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import orjson
from faust import Stream
from faust.types import AgentT, EventT, StreamT, TopicT

from models.learned import KINDS as LEARNED_KINDS
from models.learned import learned_record, observe, valid_token
from streams import kinds, metrics, topics
from streams.app import app, settings
from streams.batch_reader import BatchReader
from streams.decoding import Rejected, decode_strike
from streams.enforcement import action_record, apply_strike
from streams.labels import LabelStore, LabelStoreError
from streams.learned_list import SHARED as learned_holder
from streams.logs import limit_repeated_warnings, use_json_logs
from streams.model_holder import ModelHolder
from streams.moderators import moderator_key
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage, internal_error
from streams.reporters import apply_outcome, count_report, reliability, stats_record
from streams.reports import check_report, report_strike, seen_entries
from streams.rules_holder import SHARED as rules_holder
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
moderator_hmac_key = moderator_key(settings)


async def _dead_letter_unreadable(batch: UnreadableBatch) -> None:
    """A batch Faust's consumer could not decompress and stepped over (``streams.transport``)."""
    await pipeline.dead_letter(batch.source(), batch.rejected())


cast(Transport, app.transport).on_unreadable = _dead_letter_unreadable

reports_topic = _raw_topic(topics.USER_REPORTS)
labels_topic = _raw_topic(topics.MODERATOR_LABELS)
strikes_topic = _raw_topic(topics.ACCOUNT_STRIKES)
moderator_decisions_topic = _raw_topic(topics.MODERATOR_DECISIONS)
reports_by_reporter_topic = _raw_topic(topics.REPORTS_BY_REPORTER)
events_by_id_topic = _raw_topic(topics.EVENTS_BY_ID)
contacts_blocked_topic = _raw_topic(topics.CONTACTS_BLOCKED)

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


# contact token → its recent blocked events (models.learned.observe), for the learned list
contact_evidence = app.Table(
    "contact-evidence",
    default=dict,
    partitions=settings.topic_partitions,
).tumbling(settings.learn_window_s, expires=2 * settings.learn_window_s)


async def _batches(stream: StreamT) -> AsyncIterator[Sequence[EventT]]:
    """Batches of up to ``batch_size`` events, or whatever arrived within ``batch_window_s``;
    each batch is acked when the loop body asks for the next one, i.e. after it handled it."""
    taken = cast(Stream, stream).noack_take(settings.batch_size, within=settings.batch_window_s)
    async for events in taken:
        yield events
        for event in events:
            await stream.ack(event)


def _internal(raw: RawMessage) -> dict[str, Any] | Rejected:
    """A record of an internal topic (written by this app, but writable by anyone with access),
    or why it is not one."""
    try:
        record = orjson.loads(raw.value or b"")
    except orjson.JSONDecodeError as exc:
        return Rejected("malformed_json", f"not valid JSON: {exc}")
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return Rejected("not_an_object", "expected a JSON object with a string 'kind'")
    return record


async def _each_internal(
    stream: StreamT, handle: Callable[[RawMessage, dict[str, Any]], list[Outgoing] | Rejected]
) -> None:
    """Feed every record of an internal topic to ``handle``; what cannot be read or handled is
    a dead letter, so a forged record neither stops the agent nor vanishes."""
    async for event in stream.events():
        raw = _raw(event)
        try:
            record = _internal(raw)
            result = handle(raw, record) if isinstance(record, dict) else record
        except Exception as exc:  # a forged record with the wrong shape, or a bug
            result = internal_error(exc)
        if isinstance(result, Rejected):
            await pipeline.dead_letter(raw, result)
        elif result:
            await pipeline.send(result)


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
            *(settings.topic(name) for name in kinds.SCORED_TOPICS),
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
        await pipeline.reports([_raw(event) for event in events])


@app.agent(labels_topic, name="store_labels")
async def store_labels(stream: StreamT) -> None:
    """Moderator labels → the labelled-data store that retraining reads."""
    async for events in _batches(stream):
        valid = await pipeline.labels([_raw(event) for event in events], moderator_hmac_key)
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
            review_at=settings.review_reports,
        )
        value = None
        if action is not None:
            window = settings.strike_window_s
            window_start = (timestamp // window) * window
            record = action_record(account, action, new_state, window_start, time.time())
            value = orjson.dumps(record)
    except Exception as exc:  # a bug for one signal must not stop enforcement
        return internal_error(exc, strike["event_id"])
    if new_state is state:
        return None
    strikes_table[account] = new_state
    if value is None:
        return None
    return Outgoing(settings.topic(topics.ACCOUNT_ACTIONS), account.encode(), value, raw)


@app.agent(moderator_decisions_topic, name="collect_moderator_decisions")
async def collect_moderator_decisions(stream: StreamT) -> None:
    """Signed confirm / reject decisions → strikes for confirmed reports, reporters' outcomes."""
    async for events in _batches(stream):
        await pipeline.moderator_decisions([_raw(event) for event in events], moderator_hmac_key)


@app.agent(reports_by_reporter_topic, name="weigh_reports")
async def weigh_reports(stream: StreamT) -> None:
    """Reports and outcomes keyed by reporter → the reporters table, ``reporter.stats``, and
    each report weighed by its reporter's reliability, on to its event's partition."""
    await _each_internal(stream, _weigh)


def _weigh(raw: RawMessage, record: dict[str, Any]) -> list[Outgoing]:
    reporter = record["reporter_id"]
    stats = reporters_table[reporter]
    out: list[Outgoing] = []
    if record["kind"] == "outcome":
        new_stats = apply_outcome(stats, record["report_id"], record["outcome"])
        if new_stats is stats:
            return out
    else:
        new_stats = count_report(stats)
        weighed = {**record, "weight": reliability(stats)}
        by_event = settings.topic(topics.EVENTS_BY_ID)
        out.append(Outgoing(by_event, record["event_id"].encode(), orjson.dumps(weighed), raw))
    reporters_table[reporter] = new_stats
    stats_value = orjson.dumps(stats_record(reporter, new_stats, time.time()))
    out.append(Outgoing(settings.topic(topics.REPORTER_STATS), reporter.encode(), stats_value, raw))
    return out


@app.agent(events_by_id_topic, name="verify_reports")
async def verify_reports(stream: StreamT) -> None:
    """Moderated events fill the recent-events table; a report counts only for an event in it,
    from the account it names, and goes on as review evidence keyed by that account."""
    await _each_internal(stream, _verify)


def _verify(raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
    if record["kind"] == "seen":
        for event_id, account in seen_entries(record):
            recent_events[event_id] = account
        return []
    windows = recent_events[record["event_id"]]
    seen = windows.current() or windows.delta(settings.strike_window_s)
    rejected = check_report(record, seen or None)
    if rejected is not None:
        return rejected
    strike = report_strike(record, record["weight"])
    account = record["account_id"].encode()
    return [Outgoing(settings.topic(topics.ACCOUNT_STRIKES), account, orjson.dumps(strike), raw)]


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


@app.agent(contacts_blocked_topic, name="learn_contacts")
async def learn_contacts(stream: StreamT) -> None:
    """Contact tokens of blocked events (keyed by token) → the learned list (``moderation.learned``)."""
    await _each_internal(stream, _learn)


def _learn(raw: RawMessage, record: dict[str, Any]) -> list[Outgoing] | Rejected:
    """Count one blocked event for its token; teach the fleet the token once it has enough
    events from enough accounts (again when half its TTL has passed and the spam goes on)."""
    token, kind, account = record.get("token"), record.get("token_kind"), record.get("account_id")
    if (
        record.get("kind") != "blocked_contact"
        or not valid_token(token)
        or kind not in LEARNED_KINDS
        or not isinstance(account, str)
        or raw.key != str(token).encode()
    ):
        return Rejected("invalid_field", "not a blocked_contact record keyed by its token")
    now = time.time()
    at = record.get("at")
    at = min(float(at), now) if isinstance(at, int | float) else now
    token = str(token)
    state, ready = observe(
        contact_evidence[token].current(),
        account[: settings.max_id_chars],
        at,
        window_s=settings.learn_window_s,
        min_events=settings.learn_min_events,
        min_accounts=settings.learn_min_accounts,
    )
    out = []
    if ready and float(state.get("learned_until", 0.0)) <= now + settings.learn_ttl_s / 2:
        learned = learned_record(
            token, str(kind), str(record.get("category")), state, now, settings.learn_ttl_s
        )
        state["learned_until"] = learned["expires_at"]
        out.append(
            Outgoing(settings.topic(topics.LEARNED), token.encode(), orjson.dumps(learned), raw)
        )
        metrics.LEARNED_TOKENS.inc()
        log.info("teaching the fleet %s %s: %s", kind, token, learned)
    contact_evidence[token] = state
    return out


@app.task
async def follow_learned() -> None:
    """Serve every learned contact token from ``moderation.learned``."""
    await learned_holder.follow(settings)


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
        "rules_version": rules_holder.current.version,
        "last_rules_error": rules_holder.last_error,
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
