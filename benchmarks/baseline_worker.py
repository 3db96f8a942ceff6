"""The hand-written baselines: minimal consume → score → produce loops.

What a user would write without Faust: one consumer in a group, batches of the same size chatguard
uses, the same model and decoding, decisions produced with orjson, offsets committed after each
batch's sends are flushed. ``--client aiokafka`` (the default) is an asyncio loop over aiokafka's
``getmany``; ``--client confluent`` is what a performance-minded user would write with
confluent-kafka (librdkafka fetches, batches, compresses and delivers in its own C threads):
``consume(num_messages=…)``, ``produce`` per decision, ``flush`` and a commit per batch.
``--no-score`` skips the model to measure what the Kafka client alone allows. Run by
``benchmarks/stream.py``; reads the same ``CHATGUARD_*`` settings.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from chatguard.settings import Settings
from models.policy import Policy, Verdict
from models.registry import ModelRegistry
from streams import topics
from streams.decoding import Event, decode
from streams.kafka_options import connection as client_options


def decisions(
    model: Any, policy: Policy, events: list[Event], score: bool
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of each event's decision: one model call for the batch (none with
    ``score`` off: every event is allowed)."""
    if not events:
        return []
    now = time.time()
    verdicts: Sequence[Verdict | None]
    if score:
        scores = model.score([e.text for e in events])
        verdicts = policy.decide_batch(scores, [e.source for e in events])
        rows = scores.round(4).tolist()
    else:
        verdicts, rows = [None] * len(events), [[] for _ in events]
    out = []
    for event, verdict, row in zip(events, verdicts, rows, strict=True):
        decision = {
            "event_id": event.event_id,
            "account_id": event.account_id,
            "action": verdict.action if verdict else "allow",
            "scores": dict(zip(model.labels, row, strict=False)),
            "model_version": model.version,
            "decided_at": now,
        }
        out.append((event.account_id.encode(), orjson.dumps(decision)))
    return out


def mark_ready(path: str | None) -> None:
    """Create ``path`` (if given): the loop holds its partitions, so latency can be measured."""
    if path:
        Path(path).touch()


async def run(
    settings: Settings,
    output_prefix: str,
    score: bool,
    idle_exit_s: float,
    ready_file: str | None = None,
) -> None:
    model = ModelRegistry(settings.registry).load_current()
    policy = Policy.from_model(model)
    consumer = AIOKafkaConsumer(
        settings.topic(topics.CHAT_MESSAGES),
        settings.topic(topics.POSTS),
        group_id=settings.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_size,
        isolation_level="read_committed",
        **client_options(settings),
    )
    producer = AIOKafkaProducer(linger_ms=5, max_batch_size=262_144, **client_options(settings))
    await consumer.start()
    await producer.start()
    if ready_file:
        while not consumer.assignment():  # the group join runs in the background
            await asyncio.sleep(0.1)
        mark_ready(ready_file)
    decisions_topic = output_prefix + topics.DECISIONS
    dead_topic = output_prefix + topics.DEAD_LETTER
    last_message = time.monotonic()
    try:
        while time.monotonic() - last_message < idle_exit_s:
            batches = await consumer.getmany(
                timeout_ms=int(settings.batch_window_s * 1000), max_records=settings.batch_size
            )
            if not batches:
                continue
            last_message = time.monotonic()
            events: list[Event] = []
            for tp, messages in batches.items():
                logical = tp.topic[len(settings.topic_prefix) :]
                for message in messages:
                    result = decode(
                        message.value,
                        logical,
                        max_event_bytes=settings.max_event_bytes,
                        max_text_chars=settings.max_text_chars,
                    )
                    if isinstance(result, Event):
                        events.append(result)
                    else:
                        await producer.send(
                            dead_topic, orjson.dumps({"error_kind": result.kind}), key=message.key
                        )
            for key, value in decisions(model, policy, events, score):
                await producer.send(decisions_topic, value, key=key)
            await producer.flush()
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def run_confluent(
    settings: Settings,
    output_prefix: str,
    score: bool,
    idle_exit_s: float,
    ready_file: str | None = None,
) -> None:
    from confluent_kafka import Consumer, Producer

    model = ModelRegistry(settings.registry).load_current()
    policy = Policy.from_model(model)
    bootstrap = settings.bootstrap_servers
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": settings.app_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    consumer.subscribe(
        [settings.topic(topics.CHAT_MESSAGES), settings.topic(topics.POSTS)],
        on_assign=lambda _consumer, _partitions: mark_ready(ready_file),
    )
    decisions_topic = output_prefix + topics.DECISIONS
    dead_topic = output_prefix + topics.DEAD_LETTER
    last_message = time.monotonic()
    try:
        while time.monotonic() - last_message < idle_exit_s:
            messages = consumer.consume(settings.batch_size, timeout=settings.batch_window_s)
            if not messages:
                continue
            last_message = time.monotonic()
            events: list[Event] = []
            for message in messages:
                if message.error() is not None:
                    continue
                result = decode(
                    message.value(),
                    (message.topic() or "")[len(settings.topic_prefix) :],
                    max_event_bytes=settings.max_event_bytes,
                    max_text_chars=settings.max_text_chars,
                )
                if isinstance(result, Event):
                    events.append(result)
                else:
                    producer.produce(
                        dead_topic, orjson.dumps({"error_kind": result.kind}), message.key()
                    )
            for key, value in decisions(model, policy, events, score):
                producer.produce(decisions_topic, value, key)
            producer.flush()
            consumer.commit(asynchronous=False)
    finally:
        producer.flush()
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-prefix", required=True)
    parser.add_argument("--no-score", action="store_true")
    parser.add_argument(
        "--idle-exit", type=float, default=3600.0, help="stop after this long without input"
    )
    parser.add_argument("--client", choices=("aiokafka", "confluent"), default="aiokafka")
    parser.add_argument("--ready-file", help="create this file once the loop holds its partitions")
    args = parser.parse_args()
    settings, score = Settings.from_env(), not args.no_score
    if args.client == "confluent":
        run_confluent(settings, args.output_prefix, score, args.idle_exit, args.ready_file)
    else:
        asyncio.run(run(settings, args.output_prefix, score, args.idle_exit, args.ready_file))


if __name__ == "__main__":
    main()
