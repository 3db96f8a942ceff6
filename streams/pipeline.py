"""One batch of raw Kafka messages → decisions, dead letters and strikes on their topics.

The agents in ``streams.agents`` hand batches to :class:`ModerationPipeline`; it owns no Kafka
client, only an :class:`OutputSink`, so agent tests can record what would be sent.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from chatguard.settings import Settings
from streams import metrics, topics
from streams.decide import Position, build_decisions, score_events
from streams.decoding import Event, Rejected, decode
from streams.model_holder import ModelHolder

SCORED_TYPES = ("chat.message", "post")


@dataclass(frozen=True, slots=True)
class RawMessage:
    """What the pipeline needs from a consumed Kafka message."""

    topic: str  # the physical topic name
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class OutputSink(Protocol):
    """Where outgoing records go: Kafka in a worker, a list in agent tests."""

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...


class ModerationPipeline:
    """Decode → score a batch → decide → route, for chat messages and posts."""

    def __init__(self, settings: Settings, holder: ModelHolder, sink: OutputSink) -> None:
        self.settings = settings
        self.holder = holder
        self.sink = sink
        self._decisions = settings.topic(topics.DECISIONS)
        self._review = settings.topic(topics.REVIEW)
        self._enforcement = settings.topic(topics.ENFORCEMENT)
        self._dead_letter = settings.topic(topics.DEAD_LETTER)
        self._strikes = settings.topic(topics.ACCOUNT_STRIKES)

    def decode(self, message: RawMessage) -> Event | Rejected:
        logical = topics.logical_name(self.settings, message.topic)
        metrics.EVENTS_IN.labels(topic=logical).inc()
        return decode(
            message.value,
            logical,
            max_event_bytes=self.settings.max_event_bytes,
            max_text_chars=self.settings.max_text_chars,
        )

    async def moderate(self, batch: Sequence[RawMessage]) -> None:
        """Every message of ``batch`` ends as one decision or one dead letter."""
        events: list[Event] = []
        positions: list[Position] = []
        for message in batch:
            result = self.decode(message)
            if isinstance(result, Rejected):
                await self.dead_letter(message, result)
            elif result.event_type not in SCORED_TYPES:
                await self.dead_letter(
                    message,
                    Rejected(
                        "unknown_type",
                        f"{result.event_type} is not moderated here",
                        result.event_id,
                    ),
                )
            else:
                events.append(result)
                positions.append(Position(message.topic, message.partition, message.offset))
        if not events:
            return
        serving = self.holder.current  # one version for the whole batch
        started = time.perf_counter()
        scores, failures = score_events(serving, events)
        metrics.SCORING_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(events))
        if failures:
            failed = {f.index for f in failures}
            by_offset = {(m.topic, m.partition, m.offset): m for m in batch}
            for failure in failures:
                pos = positions[failure.index]
                event = events[failure.index]
                await self.dead_letter(
                    by_offset[(pos.topic, pos.partition, pos.offset)],
                    Rejected("scoring_failed", failure.error, event.event_id),
                )
            keep = [i for i in range(len(events)) if i not in failed]
            events = [events[i] for i in keep]
            positions = [positions[i] for i in keep]
            scores = scores[keep]
        for decision in build_decisions(serving, events, positions, scores, time.time()):
            await self.route(decision)

    async def route(self, decision: dict[str, Any]) -> None:
        """Every decision to the decisions topic; review and block also to their queues."""
        key = decision["account_id"].encode()
        value = orjson.dumps(decision)
        action = decision["action"]
        await self.sink.send(self._decisions, key, value)
        if action == "review":
            await self.sink.send(self._review, key, value)
        elif action == "block":
            await self.sink.send(self._enforcement, key, value)
            strike = {
                "signal_id": f"block:{decision['event_id']}",
                "kind": "block",
                "event_id": decision["event_id"],
                "account_id": decision["account_id"],
                "categories": decision["triggered"],
                "weight": 1.0,
                "at": decision["decided_at"],
            }
            await self.sink.send(self._strikes, key, orjson.dumps(strike))
        metrics.DECISIONS.labels(action=action).inc()
        for category in decision["triggered"]:
            metrics.TRIGGERED.labels(category=category, action=action).inc()

    async def dead_letter(self, message: RawMessage, rejected: Rejected) -> None:
        record = {
            "source_topic": message.topic,
            "source_partition": message.partition,
            "source_offset": message.offset,
            "key": base64.b64encode(message.key).decode() if message.key is not None else None,
            "raw": base64.b64encode(message.value or b"").decode(),
            "error_kind": rejected.kind,
            "error": rejected.error,
            "failed_at": time.time(),
            "event_id": rejected.event_id,
        }
        await self.sink.send(self._dead_letter, message.key, orjson.dumps(record))
        metrics.DEAD_LETTERS.labels(kind=rejected.kind).inc()

    async def report(self, message: RawMessage) -> None:
        """A user report becomes a strike signal keyed by the reported account."""
        result = self.decode(message)
        if isinstance(result, Rejected):
            await self.dead_letter(message, result)
            return
        data = result.data
        weight = (
            self.settings.confirmed_report_weight
            if data.get("confirmed")
            else self.settings.report_weight
        )
        strike = {
            "signal_id": f"report:{data['report_id']}",
            "kind": "report",
            "event_id": data["event_id"],
            "account_id": data["account_id"],
            "categories": [data["reason"]],
            "weight": weight,
            "at": data["reported_at"],
        }
        await self.sink.send(self._strikes, data["account_id"].encode(), orjson.dumps(strike))
