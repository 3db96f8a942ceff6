"""The batch in flight (``streams.ingest``): a reader starts each fetched batch and finishes the
one before it, so at any moment one batch may be scored but not yet decided. These tests hold a
batch in that state on purpose and check at-least-once around it: a commit never covers it, and
settling (what stopping and a revoke do) finishes it before committing. The readers' Kafka calls
are replaced by a recording subclass; the pipeline and its scoring process are the real ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatguard.settings import Settings
from models.policy import Policy
from models.registry import ModelRegistry
from streams import topics
from streams.ingest import BatchIngest
from streams.learned_list import LearnedHolder
from streams.model_holder import ModelHolder, ServingModel
from streams.pipeline import RawMessage
from streams.rules_holder import RulesHolder
from tests.agents.harness import RecordingSink, chat

PARTITION = "chat.messages-0"


class RecordingIngest(BatchIngest):
    """A reader of one partition whose commits are recorded with how many decisions had been
    sent by then."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = RecordingSink(self.settings)
        self.commits: list[tuple[dict[Any, int], set[str]]] = []

    def decided(self) -> set[str]:
        return {decision["event_id"] for decision in self.sink.on(topics.DECISIONS)}

    async def _moderate(self, fetched: Any) -> None:
        batch: list[RawMessage] = fetched
        spans = {PARTITION: (batch[0].offset, batch[-1].offset)}
        await self._overlapped(batch, spans)

    def assignment(self) -> set[Any]:
        return {PARTITION}

    async def _commit_offsets(self, offsets: dict[Any, int]) -> None:
        self.commits.append((dict(offsets), self.decided()))


def batch(first: int, count: int) -> list[RawMessage]:
    return [
        RawMessage(topics.CHAT_MESSAGES, 0, offset, b"k", chat(f"e{offset}", f"message {offset}"))
        for offset in range(first, first + count)
    ]


@pytest.fixture
async def reader(default_model_registry: ModelRegistry) -> AsyncIterator[RecordingIngest]:
    settings = Settings.from_env({})
    model = default_model_registry.load_current()
    holder = ModelHolder(settings)
    holder.use(ServingModel(model, Policy.from_model(model, None)))
    reader = RecordingIngest(settings, holder, RulesHolder(), LearnedHolder())
    pipeline = reader._feed(reader.sink)
    yield reader
    await pipeline.close()


async def test_a_commit_never_covers_the_batch_in_flight(reader: RecordingIngest) -> None:
    await reader._moderate(batch(0, 3))
    assert reader._in_flight is not None and reader.decided() == set()
    await reader._moderate(batch(3, 3))  # finishes the first, starts the second
    assert reader.decided() == {"e0", "e1", "e2"}
    await reader._commit()
    assert reader.commits == [({PARTITION: 3}, {"e0", "e1", "e2"})]
    # a delivery failure now re-reads from the batch still in flight, not from after it
    assert reader._rewind_to == {PARTITION: 3}
    assert reader._in_flight is not None


async def test_settling_finishes_the_batch_in_flight_before_committing(
    reader: RecordingIngest,
) -> None:
    """What a stopping worker and a revoke do: nothing in flight is committed undecided, and
    nothing is left in flight."""
    await reader._moderate(batch(0, 4))
    await reader._moderate(batch(4, 4))
    await reader._settle()
    everything = {f"e{i}" for i in range(8)}
    assert reader.commits == [({PARTITION: 8}, everything)]
    assert reader._in_flight is None and reader._rewind_to == {}


async def test_an_empty_fetch_finishes_the_batch_in_flight_at_once(
    reader: RecordingIngest,
) -> None:
    await reader._moderate(batch(0, 2))
    assert reader._fetch_window_s() == 0.0  # the next fetch does not wait with a batch held
    assert await reader._handle([], Exception)
    assert reader.decided() == {"e0", "e1"} and reader._in_flight is None
    assert reader._fetch_window_s() == reader.settings.batch_window_s
