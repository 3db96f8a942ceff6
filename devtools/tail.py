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
from chatguard.terminal import printable
from streams.kafka_options import connection
from streams.topics import DEAD_LETTER, TAIL_NAMES

TEXT_KEPT = 80  # characters of one field a line shows
REASONS_KEPT = 100  # characters of the joined reasons a decision line shows


class Unreadable(ValueError):
    """A record tail cannot show: not JSON, or a field it prints is missing or of another type."""


def describe(topic: str, partition: int, offset: int, value: bytes | None) -> str:
    """The line for one record as read: the record (:func:`format_record`), or a note saying
    where it is and why it cannot be shown. Anything may be on a topic, and one bad record must
    not end the tail (with --from-beginning it would end every run at the same record)."""
    try:
        if value is None:
            raise Unreadable("a tombstone (no value)")
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise Unreadable(f"not JSON ({exc})") from exc
        return format_record(topic, record)
    except Unreadable as exc:
        return printable(f"??      {topic}[{partition}]@{offset}: cannot show it: {exc}")


def format_record(topic: str, record: object) -> str:
    """One readable line for a decision, a dead letter or an account action, control characters
    escaped; :class:`Unreadable` if ``record`` is none of them."""
    if not isinstance(record, dict):
        raise Unreadable(f"not a JSON object but {type(record).__name__}")
    return printable(_line(record))


def _line(record: dict[str, Any]) -> str:
    if "error_kind" in record:
        raw = _text(record, "raw", default="", most=80)  # base64: 60 bytes
        try:
            head = base64.b64decode(raw)
        except ValueError as exc:
            raise Unreadable(f"raw is not base64 ({exc})") from exc
        kind, error = _text(record, "error_kind"), _text(record, "error", most=70)
        return f"DEAD    {kind:<15} {error}  raw={head!r}"
    if record.get("action") == "review_account":
        return (
            f"ACCOUNT REVIEW   {_text(record, 'account_id')}  reports={len(_list(record, 'reports'))}"
            f"  reporters={len(_list(record, 'reporters'))}  weight={_number(record, 'report_score'):.2f}"
            f"  evidence={len(_list(record, 'evidence'))} events"
        )
    if "action_id" in record:
        return (
            f"ACCOUNT {_text(record, 'action').upper():<8} {_text(record, 'account_id')}"
            f"  strikes={_number(record, 'strikes'):.1f}"
            f"  evidence={len(_list(record, 'evidence'))} events"
        )
    if "reliability" in record:
        return (
            f"REPORTER {_text(record, 'reporter_id')}  reports={_whole(record, 'reports')}"
            f"  confirmed={_whole(record, 'confirmed')}  rejected={_whole(record, 'rejected')}"
            f"  reliability={_number(record, 'reliability'):.2f}"
        )
    if "worker" in record and record.get("version"):  # a ModelUpdate names one of the two
        return f"MODEL   {_text(record, 'worker')} now serves {_text(record, 'version')}"
    if "worker" in record and record.get("rules_version"):
        return f"RULES   {_text(record, 'worker')} now serves {_text(record, 'rules_version')}"
    scores = record.get("scores", {})
    if not isinstance(scores, dict):
        raise Unreadable(f"scores is not an object: {_shown(scores)}")
    named = [(name[:TEXT_KEPT], _number(scores, name)) for name in scores]
    top = sorted(named, key=lambda item: -item[1])[:2]
    top_text = " ".join(f"{name}={value:.2f}" for name, value in top)
    triggered = ",".join(_strings(record, "triggered"))[:TEXT_KEPT] or "-"
    excerpt = _text(record, "excerpt", default="", most=60).replace("\n", " ")
    # why it was flagged: a score over a cut, a rule, a campaign, a sender's behaviour
    why = "; ".join(_strings(record, "reasons"))[:REASONS_KEPT]
    return (
        f"{_text(record, 'action').upper():<7} {triggered:<16} {top_text:<28} "
        f"acct={_text(record, 'account_id'):<12} model={_text(record, 'model_version')}"
        f'  "{excerpt}"' + (f"  why: {why}" if why else "")
    )


def _text(
    record: dict[str, Any], key: str, *, default: str | None = None, most: int = TEXT_KEPT
) -> str:
    value = record.get(key, default)
    if not isinstance(value, str):
        raise Unreadable(f"{key} is not text: {_shown(value)}")
    return value[:most]


def _number(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unreadable(f"{key} is not a number: {_shown(value)}")
    return float(value)  # orjson reads no NaN or infinity, and big integers as floats


def _whole(record: dict[str, Any], key: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unreadable(f"{key} is not a whole number: {_shown(value)}")
    return value


def _list(record: dict[str, Any], key: str) -> list[Any]:
    value = record.get(key, [])
    if not isinstance(value, list):
        raise Unreadable(f"{key} is not a list: {_shown(value)}")
    return value


def _strings(record: dict[str, Any], key: str) -> list[str]:
    value = _list(record, key)
    if not all(isinstance(item, str) for item in value):
        raise Unreadable(f"{key} is not a list of text: {_shown(value)}")
    return value


def _shown(value: object) -> str:
    """A short sample of a bad value for a note (escaped with the note)."""
    return repr(value)[:40] if not isinstance(value, dict | list) else f"a {type(value).__name__}"


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
    seen = 0
    try:
        await consumer.start()  # inside: a broker that is away still closes the consumer
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
                    line = describe(tp.topic, tp.partition, message.offset, message.value)
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
