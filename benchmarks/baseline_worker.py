"""The hand-written baseline: a minimal aiokafka consume → score → produce loop.

What a user would write without Faust: one consumer in a group, ``getmany`` batches of the same
size chatguard uses, the same model and decoding, decisions produced with orjson, offsets committed
after each batch's sends are flushed. ``--no-score`` skips the model to measure what the Kafka
client alone allows. Run by ``benchmarks/stream.py``; reads the same ``CHATGUARD_*`` settings.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from chatguard.settings import Settings
from models.policy import Policy, Verdict
from models.registry import ModelRegistry
from streams import topics
from streams.decoding import Event, decode
from streams.kafka_options import connection as client_options


async def run(settings: Settings, output_prefix: str, score: bool, idle_exit_s: float) -> None:
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
            if events:
                now = time.time()
                verdicts: Sequence[Verdict | None]
                if score:
                    scores = model.score([e.text for e in events])
                    verdicts = policy.decide_batch(scores, [e.source for e in events])
                    rows = scores.round(4).tolist()
                else:
                    verdicts, rows = [None] * len(events), [[] for _ in events]
                for event, verdict, row in zip(events, verdicts, rows, strict=True):
                    decision = {
                        "event_id": event.event_id,
                        "account_id": event.account_id,
                        "action": verdict.action if verdict else "allow",
                        "scores": dict(zip(model.labels, row, strict=False)),
                        "model_version": model.version,
                        "decided_at": now,
                    }
                    await producer.send(
                        decisions_topic, orjson.dumps(decision), key=event.account_id.encode()
                    )
            await producer.flush()
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-prefix", required=True)
    parser.add_argument("--no-score", action="store_true")
    parser.add_argument(
        "--idle-exit", type=float, default=3600.0, help="stop after this long without input"
    )
    args = parser.parse_args()
    asyncio.run(run(Settings.from_env(), args.output_prefix, not args.no_score, args.idle_exit))


if __name__ == "__main__":
    main()
