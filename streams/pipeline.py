"""One batch of raw Kafka messages → decisions, dead letters and strikes on their topics.

The agents in ``streams.agents`` hand batches to :class:`ModerationPipeline`; it owns no Kafka
client, only an :class:`OutputSink`, so agent tests can record what would be sent.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from chatguard.settings import Settings
from streams import metrics, topics
from streams.decide import Position, build_decisions, score_events
from streams.decoding import Event, Rejected, decode
from streams.model_holder import ModelHolder
from streams.rules_holder import SHARED, RulesHolder, apply_rules

SCORED_TYPES = ("chat.message", "post")
# A dead letter carries the raw value base64-encoded (4/3 larger): cut it here so that a dead letter
# for an event near Kafka's 1 MB record limit is itself under that limit. The whole value stays at
# its source position, which the dead letter records.
DEAD_LETTER_RAW_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class RawMessage:
    """What the pipeline needs from a consumed Kafka message."""

    topic: str  # the physical topic name
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce: topic (physical name), key, value."""

    topic: str
    key: bytes | None
    value: bytes


class OutputSink(Protocol):
    """Where outgoing records go: Kafka in a worker, a list in agent tests.

    A batch's records are handed over in one call, so a sink can build one producer batch per
    partition instead of paying the producer's per-record bookkeeping.
    """

    async def send_all(self, records: Sequence[Outgoing]) -> None: ...


class ModerationPipeline:
    """Decode → score a batch → decide → route, for chat messages and posts."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        sink: OutputSink,
        rules: RulesHolder = SHARED,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.sink = sink
        self.rules = rules
        self._decisions = settings.topic(topics.DECISIONS)
        self._review = settings.topic(topics.REVIEW)
        self._enforcement = settings.topic(topics.ENFORCEMENT)
        self._dead_letter = settings.topic(topics.DEAD_LETTER)
        self._strikes = settings.topic(topics.ACCOUNT_STRIKES)

    def decode(self, message: RawMessage) -> Event | Rejected:
        logical = topics.logical_name(self.settings, message.topic)
        metrics.EVENTS_IN.labels(topic=logical).inc()
        return self._decode(message.value, logical)

    def _decode(self, raw: bytes | None, logical_topic: str) -> Event | Rejected:
        return decode(
            raw,
            logical_topic,
            max_event_bytes=self.settings.max_event_bytes,
            max_text_chars=self.settings.max_text_chars,
        )

    async def moderate(self, batch: Sequence[RawMessage]) -> None:
        """Every message of ``batch`` ends as one decision or one dead letter."""
        out: list[Outgoing] = []
        events: list[Event] = []
        sources: list[RawMessage] = []
        logical = topics.logical_name
        arrived: Counter[str] = Counter()
        for message in batch:
            topic = logical(self.settings, message.topic)
            arrived[topic] += 1
            result = self._decode(message.value, topic)
            if isinstance(result, Rejected):
                out.append(self._dead_letter_record(message, result))
            elif result.event_type not in SCORED_TYPES:
                out.append(
                    self._dead_letter_record(
                        message,
                        Rejected(
                            "unknown_type",
                            f"{result.event_type} is not moderated here",
                            result.event_id,
                        ),
                    )
                )
            else:
                events.append(result)
                sources.append(message)
        for topic, count in arrived.items():
            metrics.EVENTS_IN.labels(topic=topic).inc(count)
        if events:
            out.extend(self._decide(events, sources))
        await self.sink.send_all(out)

    def _decide(self, events: list[Event], sources: list[RawMessage]) -> list[Outgoing]:
        """Score ``events`` as one batch; decisions (and dead letters for poison events)."""
        out: list[Outgoing] = []
        serving = self.holder.current  # one version for the whole batch
        ruleset = self.rules.current  # likewise one rules version
        started = time.perf_counter()
        scores, failures = score_events(serving, events)
        metrics.SCORING_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(events))
        if failures:
            for failure in failures:
                event = events[failure.index]
                out.append(
                    self._dead_letter_record(
                        sources[failure.index],
                        Rejected("scoring_failed", failure.error, event.event_id),
                    )
                )
            failed = {f.index for f in failures}
            keep = [i for i in range(len(events)) if i not in failed]
            events = [events[i] for i in keep]
            sources = [sources[i] for i in keep]
            scores = scores[keep]
        positions = [Position(m.topic, m.partition, m.offset) for m in sources]
        decisions = build_decisions(serving, events, positions, scores, time.time())
        apply_rules(ruleset, serving, events, scores, decisions)
        actions: Counter[str] = Counter()
        triggered: Counter[tuple[str, str]] = Counter()
        for decision in decisions:
            action = decision["action"]
            actions[action] += 1
            for category in decision["triggered"]:
                triggered[(category, action)] += 1
            out.extend(self._routed(decision))
        for action, count in actions.items():
            metrics.DECISIONS.labels(action=action).inc(count)
        for (category, action), count in triggered.items():
            metrics.TRIGGERED.labels(category=category, action=action).inc(count)
        return out

    def _routed(self, decision: dict[str, Any]) -> list[Outgoing]:
        """Every decision to the decisions topic; review and block also to their queues."""
        key = decision["account_id"].encode()
        value = orjson.dumps(decision)
        action = decision["action"]
        if action == "allow":
            return [Outgoing(self._decisions, key, value)]
        if action == "review":
            return [Outgoing(self._decisions, key, value), Outgoing(self._review, key, value)]
        strike = {
            "signal_id": f"block:{decision['event_id']}",
            "kind": "block",
            "event_id": decision["event_id"],
            "account_id": decision["account_id"],
            "categories": decision["triggered"],
            "weight": 1.0,
            "at": decision["decided_at"],
        }
        return [
            Outgoing(self._decisions, key, value),
            Outgoing(self._enforcement, key, value),
            Outgoing(self._strikes, key, orjson.dumps(strike)),
        ]

    async def dead_letter(self, message: RawMessage, rejected: Rejected) -> None:
        await self.sink.send_all([self._dead_letter_record(message, rejected)])

    def _dead_letter_record(self, message: RawMessage, rejected: Rejected) -> Outgoing:
        raw = message.value or b""
        key = message.key[:DEAD_LETTER_RAW_BYTES] if message.key is not None else None
        record = {
            "source_topic": message.topic,
            "source_partition": message.partition,
            "source_offset": message.offset,
            "key": base64.b64encode(key).decode() if key is not None else None,
            "raw": base64.b64encode(raw[:DEAD_LETTER_RAW_BYTES]).decode(),
            "error_kind": rejected.kind,
            "error": rejected.error,
            "failed_at": time.time(),
            "event_id": rejected.event_id,
            "raw_size": len(raw),
            "raw_truncated": len(raw) > DEAD_LETTER_RAW_BYTES,
        }
        metrics.DEAD_LETTERS.labels(kind=rejected.kind).inc()
        return Outgoing(self._dead_letter, message.key, orjson.dumps(record))

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
        account = data["account_id"].encode()
        await self.sink.send_all([Outgoing(self._strikes, account, orjson.dumps(strike))])
