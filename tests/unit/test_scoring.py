"""Scoring in a thread beside the event loop (``CHATGUARD_SCORING=thread``), under a time budget: a
deliberately slow model (the real default
model that blocks on one marker text until the test lets it go, as a stuck computation would)."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pytest

from chatguard.settings import Settings
from models.policy import Policy
from models.registry import ModelRegistry
from streams import metrics, topics
from streams import scoring as scoring_module
from streams.decide import score_events
from streams.decoding import Event, decode
from streams.model_holder import ModelHolder, ServingModel
from streams.pipeline import (
    SHORTAGE_RETRY_DELAYS_S,
    ModerationPipeline,
    Outgoing,
    RawMessage,
)
from streams.scoring import MAX_RETIRED, TIMEOUT_KIND, Scorer

MARKER = "SLOW-PILL"


class SlowModel:
    """The real model, except that a batch holding ``MARKER`` blocks until ``release`` is set."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.labels = model.labels
        self.version = model.version
        self.release = threading.Event()
        self.blocked = threading.Semaphore(0)  # one release per call that started blocking

    def score(self, texts: Sequence[str]) -> Any:
        if any(MARKER in text for text in texts):
            self.blocked.release()
            self.release.wait()
        return self._model.score(texts)


@pytest.fixture
def slow(default_model_registry: ModelRegistry) -> Iterator[ServingModel]:
    model = default_model_registry.load_current()
    slow_model = SlowModel(model)
    yield ServingModel(slow_model, Policy.from_model(model))
    slow_model.release.set()  # let every blocked thread finish and exit


def _stand_in(serving: ServingModel) -> SlowModel:
    """The slow model behind ``serving``, with its controls."""
    assert isinstance(serving.model, SlowModel)
    return serving.model


def _raw(event_id: str, text: str) -> bytes:
    return orjson.dumps(
        {
            "type": "chat.message",
            "event_id": event_id,
            "conversation_id": "c",
            "sender_id": f"acct-{event_id}",
            "text": text,
            "sent_at": 1_700_000_000.0,
        }
    )


def _event(event_id: str, text: str) -> Event:
    event = decode(
        _raw(event_id, text), "chat.messages", max_event_bytes=1_000_000, max_text_chars=20_000
    )
    assert isinstance(event, Event)
    return event


async def test_a_batch_is_scored_as_before(slow: ServingModel) -> None:
    events = [_event("a", "good morning"), _event("b", "加微信领红包，日结300")]
    scores, failures = await Scorer(5.0).score(slow, events)
    expected, _ = score_events(slow, events)
    assert failures == []
    np.testing.assert_allclose(scores, expected)


async def test_the_event_loop_runs_while_a_batch_is_scored(slow: ServingModel) -> None:
    events = [_event("a", "good morning"), _event("b", f"hello {MARKER}")]
    scoring = asyncio.create_task(Scorer(60.0).score(slow, events))
    # the model is now blocked inside a batch: the loop must still run other tasks
    assert await asyncio.to_thread(_stand_in(slow).blocked.acquire, timeout=30)
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.001)
        ticks += 1
    assert ticks == 5 and not scoring.done()
    _stand_in(slow).release.set()
    scores, failures = await asyncio.wait_for(scoring, 60)
    assert failures == [] and np.isfinite(scores).all()


async def test_an_event_over_budget_is_a_timeout_and_the_rest_is_scored(
    slow: ServingModel,
) -> None:
    events = [_event("a", "good morning"), _event("b", f"hi {MARKER}"), _event("c", "lunch?")]
    scores, failures = await Scorer(1.0).score(slow, events)
    assert [(f.index, f.kind) for f in failures] == [(1, TIMEOUT_KIND)]
    assert "1 s" in failures[0].error
    expected, _ = score_events(slow, [events[0], events[2]])
    np.testing.assert_allclose(scores[[0, 2]], expected)
    assert np.isnan(scores[1]).all()


class PacedModel:
    """A stand-in whose batches of more than one text take ``batch_s``; one text, no time."""

    def __init__(self, labels: Sequence[str], batch_s: float) -> None:
        self.labels = tuple(labels)
        self.version = "paced"
        self.batch_s = batch_s
        self.calls = 0

    def score(self, texts: Sequence[str]) -> Any:
        self.calls += 1
        if len(texts) > 1:
            time.sleep(self.batch_s)
        return np.zeros((len(texts), len(self.labels)))


async def test_a_batch_of_long_texts_has_a_budget_in_proportion_and_is_scored_once(
    slow: ServingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full batch of the longest texts allowed took 6.5 s to score, over the 5 s budget: it
    was cut off and every event scored again alone. Its budget now grows with its characters
    (here a budget per 20,000, so that 20 texts of 20,000 characters get 20)."""
    monkeypatch.setattr(scoring_module, "CHARS_PER_BUDGET", 20_000)
    paced = PacedModel(slow.model.labels, batch_s=1.0)
    serving = ServingModel(paced, slow.policy)
    scorer = Scorer(0.3)
    long = [_event(f"long-{i}", ("word " * 4_000)[:20_000]) for i in range(20)]
    assert scorer.budget_for(long) == pytest.approx(0.3 * 20)
    scores, failures = await scorer.score(serving, long)
    assert failures == [] and paced.calls == 1 and scores.shape == (20, len(paced.labels))
    # short texts keep the plain budget: the same pace is over it, and each is scored alone
    short = [_event(f"short-{i}", "see you at lunch") for i in range(20)]
    assert scorer.budget_for(short) == 0.3
    scores, failures = await scorer.score(serving, short)
    assert failures == [] and paced.calls == 1 + 1 + 20


async def test_threads_left_running_over_budget_are_bounded(slow: ServingModel) -> None:
    scorer = Scorer(0.2)
    for i in range(MAX_RETIRED):
        _, failures = await scorer.score(slow, [_event(f"s{i}", MARKER)])
        assert [f.kind for f in failures] == [TIMEOUT_KIND]
    # one more stuck call is over the bound: the scorer waits for a stuck thread to finish
    waiting = asyncio.create_task(scorer.score(slow, [_event("last", MARKER)]))
    done, _ = await asyncio.wait({waiting}, timeout=1.5)
    assert not done
    _stand_in(slow).release.set()
    _, failures = await asyncio.wait_for(waiting, 60)
    assert [f.kind for f in failures] == [TIMEOUT_KIND]


async def test_a_batch_queued_behind_one_over_budget_is_scored_not_timed_out(
    slow: ServingModel,
) -> None:
    """A reader hands the next batch to the scorer before the last is scored: waiting in the
    queue is not the batch's time, and it moves to the fresh thread when the stuck one is
    retired."""
    scorer = Scorer(1.0)
    stuck = scorer.begin(slow, [_event("stuck", MARKER)], {})
    queued = scorer.begin(slow, [_event("a", "good morning"), _event("b", "lunch?")], {})
    _, failures = await scorer.scored(stuck)
    assert [f.kind for f in failures] == [TIMEOUT_KIND]
    scores, failures = await asyncio.wait_for(scorer.scored(queued), 30)
    assert failures == [] and np.isfinite(scores).all()
    assert not _stand_in(slow).release.is_set()  # the stuck call is still stuck


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        self.sent.extend(records)

    async def delivered(self) -> None:
        pass  # kept in memory: delivered on send


async def test_the_pipeline_dead_letters_a_slow_event_and_decides_the_rest(
    slow: ServingModel, tmp_path: Any
) -> None:
    settings = Settings(scoring_budget_s=1.0, registry=tmp_path, scoring="thread")
    holder = ModelHolder(settings)
    holder.use(slow)
    sink = RecordingSink()
    pipeline = ModerationPipeline(settings, holder, sink)
    batch = [
        RawMessage("chat.messages", 0, offset, event_id.encode(), _raw(event_id, text))
        for offset, (event_id, text) in enumerate(
            [("a", "good morning"), ("b", f"x {MARKER}"), ("c", "see you at 7")]
        )
    ]
    await pipeline.moderate(batch)
    decided, dead = _outcome(sink, settings)
    assert sorted(decided) == ["a", "c"]
    assert [(d["event_id"], d["error_kind"], d["source_offset"]) for d in dead] == [
        ("b", TIMEOUT_KIND, 1)
    ]


def _outcome(sink: RecordingSink, settings: Settings) -> tuple[list[str], list[dict[str, Any]]]:
    """The event ids ``sink`` got decisions for, and the dead letters it got."""
    decided = [
        orjson.loads(r.value)["event_id"]
        for r in sink.sent
        if r.topic == settings.topic(topics.DECISIONS)
    ]
    dead = [
        orjson.loads(r.value) for r in sink.sent if r.topic == settings.topic(topics.DEAD_LETTER)
    ]
    return decided, dead


class ShortOfDescriptors:
    """The real model, except that its first ``failing`` calls fail with EMFILE (too many open
    files), as when a flood of connections has taken the worker's descriptors."""

    def __init__(self, model: Any, failing: int) -> None:
        self._model = model
        self.labels = model.labels
        self.version = model.version
        self.failing = failing
        self.calls: list[int] = []  # the texts of each call

    def score(self, texts: Sequence[str]) -> Any:
        self.calls.append(len(texts))
        if len(self.calls) <= self.failing:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return self._model.score(texts)


async def _moderated(
    default_model_registry: ModelRegistry, tmp_path: Any, model: ShortOfDescriptors, count: int
) -> tuple[list[str], list[dict[str, Any]], float]:
    """The ids decided and the dead letters of one batch of ``count`` events scored by
    ``model``, and the seconds it took."""
    settings = Settings(registry=tmp_path, scoring="thread")
    holder = ModelHolder(settings)
    holder.use(ServingModel(model, Policy.from_model(default_model_registry.load_current())))
    sink = RecordingSink()
    pipeline = ModerationPipeline(settings, holder, sink)
    batch = [
        RawMessage("chat.messages", 0, i, None, _raw(f"e{i}", f"see you at {i}"))
        for i in range(count)
    ]
    started = time.monotonic()
    await pipeline.moderate(batch)
    took = time.monotonic() - started
    await pipeline.close()
    decided, dead = _outcome(sink, settings)
    return decided, dead, took


def _retries() -> float:
    return metrics.SCORING_RETRIES.labels(reason="EMFILE")._value.get()


async def test_a_batch_short_of_descriptors_once_is_scored_again_whole(
    default_model_registry: ModelRegistry, tmp_path: Any
) -> None:
    model = ShortOfDescriptors(default_model_registry.load_current(), failing=1)
    before = _retries()
    decided, dead, _ = await _moderated(default_model_registry, tmp_path, model, 3)
    assert sorted(decided) == ["e0", "e1", "e2"] and dead == []
    assert model.calls == [3, 3]  # the batch again, not one event at a time
    assert _retries() == before + 1


async def test_a_shortage_that_outlasts_a_few_calls_loses_no_event(
    default_model_registry: ModelRegistry, tmp_path: Any
) -> None:
    """Scored again at once, one event at a time, every event of the batch failed too: each was
    dead-lettered although nothing was wrong with it."""
    model = ShortOfDescriptors(default_model_registry.load_current(), failing=4)
    decided, dead, _ = await _moderated(default_model_registry, tmp_path, model, 3)
    assert sorted(decided) == ["e0", "e1", "e2"] and dead == []
    assert model.calls == [3, 3, 3, 3, 3]


async def test_a_shortage_that_does_not_end_dead_letters_the_batch_in_bounded_time(
    default_model_registry: ModelRegistry, tmp_path: Any
) -> None:
    model = ShortOfDescriptors(default_model_registry.load_current(), failing=10**9)
    before = _retries()
    decided, dead, took = await _moderated(default_model_registry, tmp_path, model, 3)
    assert decided == []
    assert [(d["event_id"], d["error_kind"]) for d in dead] == [
        (f"e{i}", "internal_error") for i in range(3)
    ]
    assert all("Too many open files" in d["error"] for d in dead)
    retried = len(SHORTAGE_RETRY_DELAYS_S)
    assert _retries() == before + retried
    # the batch on each try, then each event once, as any batch that fails
    assert model.calls == [3] * (retried + 1) + [1, 1, 1]
    assert took < 5.0
