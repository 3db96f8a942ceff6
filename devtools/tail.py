"""``chatguard tail``: print decisions, dead letters and account actions as they arrive."""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from chatguard.settings import Settings
from streams.kafka_options import connection
from streams.topics import DEAD_LETTER, TAIL_NAMES


def format_record(topic: str, record: dict[str, Any]) -> str:
    """One readable line for a decision, a dead letter or an account action."""
    if "error_kind" in record:
        raw = base64.b64decode(record.get("raw") or "")[:60]
        return f"DEAD    {record['error_kind']:<15} {record['error'][:70]}  raw={raw!r}"
    if record.get("action") == "review_account":
        return (
            f"ACCOUNT REVIEW   {record['account_id']}  reports={len(record['reports'])}"
            f"  reporters={len(record['reporters'])}  weight={record['report_score']:.2f}"
            f"  evidence={len(record['evidence'])} events"
        )
    if "action_id" in record:
        return (
            f"ACCOUNT {record['action'].upper():<8} {record['account_id']}  strikes={record['strikes']:.1f}"
            f"  evidence={len(record['evidence'])} events"
        )
    if "reliability" in record:
        return (
            f"REPORTER {record['reporter_id']}  reports={record['reports']}"
            f"  confirmed={record['confirmed']}  rejected={record['rejected']}"
            f"  reliability={record['reliability']:.2f}"
        )
    if "worker" in record and record.get("version"):  # a ModelUpdate names one of the two
        return f"MODEL   {record['worker']} now serves {record['version']}"
    if "worker" in record and record.get("rules_version"):
        return f"RULES   {record['worker']} now serves {record['rules_version']}"
    scores = record.get("scores", {})
    top = sorted(scores.items(), key=lambda item: -item[1])[:2]
    top_text = " ".join(f"{name}={value:.2f}" for name, value in top)
    triggered = ",".join(record.get("triggered", [])) or "-"
    excerpt = record.get("excerpt", "").replace("\n", " ")[:60]
    return (
        f"{record['action'].upper():<7} {triggered:<16} {top_text:<28} "
        f'acct={record["account_id"]:<12} model={record["model_version"]}  "{excerpt}"'
    )


async def tail(
    settings: Settings,
    names: Sequence[str],
    *,
    from_beginning: bool = False,
    count: int | None = None,
    timeout: float | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Print records from ``names`` (logical topics) until ``count`` records or ``timeout`` s."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        # an aborted transaction's records were never decided: do not show them
        isolation_level="read_committed",
        **connection(settings),
    )
    await consumer.start()
    seen = 0
    try:
        partitions = []
        for name in names:
            for p in consumer.partitions_for_topic(settings.topic(name)) or await _partitions(
                consumer, settings.topic(name)
            ):
                partitions.append(TopicPartition(settings.topic(name), p))
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        deadline = time.monotonic() + timeout if timeout else None
        while count is None or seen < count:
            remaining = deadline - time.monotonic() if deadline else 1.0
            if deadline and remaining <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for tp, messages in batches.items():
                for message in messages:
                    try:
                        record = orjson.loads(message.value)
                        line = format_record(tp.topic, record)
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        line = f"??      {tp.topic}: {message.value[:80]!r}"
                    print(line, file=out, flush=True)
                    seen += 1
    finally:
        await consumer.stop()
    return seen


async def _partitions(consumer: Any, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the topic may have been created just now
    return consumer.partitions_for_topic(topic) or {0}


def topic_names(choice: str) -> list[str]:
    if choice == "all":
        return [
            TAIL_NAMES["decisions"],
            DEAD_LETTER,
            TAIL_NAMES["actions"],
            TAIL_NAMES["reporters"],
        ]
    return [TAIL_NAMES[choice]]


def run(
    settings: Settings, choice: str, from_beginning: bool, count: int | None, timeout: float | None
) -> int:
    seen = asyncio.run(
        tail(
            settings,
            topic_names(choice),
            from_beginning=from_beginning,
            count=count,
            timeout=timeout,
        )
    )
    print(f"({seen} records)", file=sys.stderr)
    return 0
