"""Validated events + the serving model → :class:`~streams.records.Decision` records. Pure: no Kafka.

Scoring a batch is one model call. If it raises (a poison input the model cannot handle), the
batch is scored one event at a time so only the culprit fails; it goes to the dead-letter topic
instead of blocking its partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.normalize import Analysis
from streams.decoding import Event
from streams.model_holder import ServingModel
from streams.records import Decision, assemble
from streams.scoring_child import ScoringFailure, score_texts

EXCERPT_CHARS = 120


@dataclass(frozen=True, slots=True)
class Position:
    """Where an event was read: the source of truth for tracing a decision."""

    topic: str
    partition: int
    offset: int


def score_events(
    serving: ServingModel, events: Sequence[Event], memo: dict[str, Analysis] | None = None
) -> tuple[np.ndarray, list[ScoringFailure]]:
    """Scores for ``events`` (rows of failed events are NaN), and the failures; with ``memo``,
    the normalized texts the model computed on the way (text → analysis) for the rules."""
    return score_texts(serving.model, [event.text for event in events], memo)


def build_decisions(
    serving: ServingModel,
    events: Sequence[Event],
    positions: Sequence[Position],
    scores: np.ndarray,
    decided_at: float,
    rules_version: str = "",
    memo: Mapping[str, Analysis] | None = None,
) -> list[Decision]:
    """One decision per event: the one place a :class:`Decision` is built. ``memo``: the
    normalized texts scoring computed, so the policy need not normalize a blocked text again."""
    if not events:
        return []
    labels = serving.model.labels
    texts = [event.text for event in events]
    normalized = None
    if memo is not None:
        normalized = [(memo.get(text) or (None,))[0] for text in texts]
    verdicts = serving.policy.decide_messages(
        scores, texts, [event.source for event in events], normalized
    )
    rounded = np.round(scores, 4).tolist()
    model_version, policy_version = serving.version, serving.policy.version
    return [
        assemble(
            Decision,
            {
                "event_id": event.event_id,
                "event_type": event.event_type,
                "account_id": event.account_id,
                "source_topic": position.topic,
                "source_partition": position.partition,
                "source_offset": position.offset,
                "action": verdict.action,
                "scores": dict(zip(labels, row, strict=True)),
                "triggered": verdict.triggered,
                "reasons": verdict.reasons,
                "model_version": model_version,
                "policy_version": policy_version,
                "decided_at": decided_at,
                "excerpt": event.text[:EXCERPT_CHARS],
                "rules_version": rules_version,
                "campaign_id": None,
            },
        )
        for event, position, row, verdict in zip(events, positions, rounded, verdicts, strict=True)
    ]
