"""What the two batch readers share (``streams.batch_reader`` on aiokafka, ``streams.rdkafka_reader``
on confluent-kafka): the pipeline they feed, and the bookkeeping of at-least-once.

A reader moderates batches, remembers per partition the next offset to commit (``_done``) and the
first offset moderated since the last commit (``_rewind_to``, where a batch whose delivery failed
is read again), and commits every :data:`COMMIT_EVERY_S` or :data:`COMMIT_EVERY_EVENTS`, after
the broker has every record produced for those offsets. Only the Kafka calls differ.

Batches overlap: a reader starts a fetched batch (decoded, handed to the model's process) and
then finishes the one started before it (decided, sent), so the model and the event loop work
at the same time. The batch in flight is not in ``_done`` until it is finished, and a commit
keeps its first offsets in ``_rewind_to``; a rewind drops it (it is read again), and a worker
that stops or gives partitions away finishes it first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mode import Service

from chatguard.settings import Settings
from streams import campaigns, metrics
from streams.campaigns import CampaignHolder
from streams.learned_list import LearnedHolder
from streams.model_holder import ModelHolder
from streams.partition_progress import Offsets, Partition
from streams.pipeline import InFlight, ModerationPipeline, RawMessage
from streams.retry import Outage
from streams.rules_holder import RulesHolder
from streams.sinks import OutputSink

COMMIT_EVERY_EVENTS = 2_000
COMMIT_EVERY_S = 1.0


class BatchIngest(Service):
    """Consume → moderate → produce → commit, a batch at a time, inside the Faust worker."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        rules: RulesHolder,
        learned: LearnedHolder,
        campaign_holder: CampaignHolder = campaigns.SHARED,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.holder = holder
        self.rules = rules  # shared with the worker's agents, which keep them up to date
        self.learned = learned
        self.campaigns = campaign_holder
        self.group_id = f"{settings.app_id}.moderation"
        self._pipeline: ModerationPipeline | None = None
        # per partition: the next offset to commit, and the first moderated since the last commit
        self._done: dict[Any, int] = {}
        self._rewind_to: dict[Any, int] = {}
        self._outage: Outage | None = None
        self._since_commit = 0
        self._committed_at = time.monotonic()
        self._in_hand = asyncio.Lock()  # held while a batch is between fetch and commit
        # the batch started and not yet finished, with each of its partitions' first and last
        # offsets
        self._in_flight: tuple[InFlight, dict[Any, tuple[int, int]]] | None = None

    def _feed(self, sink: OutputSink) -> ModerationPipeline:
        self._pipeline = ModerationPipeline(
            self.settings, self.holder, sink, self.rules, self.learned, self.campaigns
        )
        return self._pipeline

    def _reading(self, partition: Any, first: int) -> None:
        """Offsets from ``first`` on of ``partition`` are being moderated: if their delivery
        fails, the partition is read again from the first of them since the last commit."""
        self._rewind_to.setdefault(partition, first)

    def _moderated(self, partition: Any, last: int) -> None:
        """Offsets up to ``last`` of ``partition`` are moderated (committed at the next commit)."""
        self._done[partition] = max(self._done.get(partition, 0), last + 1)

    async def _overlapped(self, batch: list[RawMessage], spans: dict[Any, tuple[int, int]]) -> None:
        """Start ``batch`` (``spans``: per partition, its first and last offset), then finish the
        batch started before it: the model scores this one meanwhile."""
        for partition, (first, _) in spans.items():
            self._reading(partition, first)
        with metrics.batch_stage("start"):
            started = await self._pipeline_now().start(batch)
        await self._finish_in_flight()
        self._in_flight = (started, spans)

    async def _finish_in_flight(self) -> None:
        """Decide and send the batch in flight, if any; its offsets are then committable."""
        if self._in_flight is None:
            return
        started, spans = self._in_flight
        self._in_flight = None  # finished, or (if sending fails) rewound and read again
        await self._pipeline_now().finish(started)
        for partition, (_, last) in spans.items():
            self._moderated(partition, last)
        self._since_commit += started.size

    def _fetch_window_s(self) -> float:
        """How long the next fetch may wait for events: with a batch in flight, not at all (it
        is finished at once if nothing has come; waiting would add the window to its latency)."""
        return 0.0 if self._in_flight is not None else self.settings.batch_window_s

    def _pipeline_now(self) -> ModerationPipeline:
        assert self._pipeline is not None
        return self._pipeline

    def _commit_due(self) -> bool:
        return bool(self._done) and (
            self._since_commit >= COMMIT_EVERY_EVENTS
            or time.monotonic() - self._committed_at >= COMMIT_EVERY_S
        )

    async def _handle(
        self, fetched: Any, retryable: type[BaseException] | tuple[type[BaseException], ...]
    ) -> bool:
        """Moderate a fetched batch and commit when due, with the batch in hand; a ``retryable``
        (Kafka) error rewinds to the last commit and backs off. False if the worker is stopping:
        on_stop committed, and whoever gets these partitions reads this batch."""
        async with self._in_hand:
            if self.should_stop:
                return False
            try:
                if fetched:
                    await self._moderate(fetched)
                else:  # nothing more came: do not keep the batch in flight waiting
                    await self._finish_in_flight()
                if self._commit_due():
                    await self._commit()
            except retryable as exc:
                await self._rewind()
                await self._retry_later(exc)
        return True

    async def _moderate(self, fetched: Any) -> None:
        """Start a fetched batch with :meth:`_overlapped` (the reader's client shapes
        ``fetched``)."""
        raise NotImplementedError

    async def _rewind(self) -> None:
        """Forget what was moderated since the last commit and re-read it from there."""
        raise NotImplementedError

    def assignment(self) -> set[Any]:
        """The partitions this reader holds (the keys of ``_done``)."""
        raise NotImplementedError

    def partition_offsets(self) -> dict[Partition, Offsets]:
        """Per partition held, its position and end as the client last saw them (read by a
        timer, ``streams.partition_progress``; nothing per record)."""
        raise NotImplementedError

    async def _commit_offsets(self, offsets: dict[Any, int]) -> None:
        """Commit ``offsets`` with the reader's client. A refusal because the group moved on is
        logged, not raised (the partitions' new owner re-reads them); a broker that is away
        raises."""
        raise NotImplementedError

    async def _commit(self) -> None:
        """Commit what is moderated, once the broker has everything produced for it.

        Raises the sink's error if a record could not be delivered: nothing is committed and
        the caller rewinds, so the batch is sent again."""
        self._since_commit, self._committed_at = 0, time.monotonic()
        if not self._done:
            return
        assert self._pipeline is not None
        with metrics.batch_stage("commit"):
            await self._deliver_and_commit()

    async def _deliver_and_commit(self) -> None:
        """The part of :meth:`_commit` after there is something to commit."""
        assert self._pipeline is not None
        await self._pipeline.sink.delivered()
        done, self._done = self._done, {}
        # everything moderated so far is on the broker: only the batch in flight is not
        spans = self._in_flight[1] if self._in_flight is not None else {}
        self._rewind_to = {partition: first for partition, (first, _) in spans.items()}
        held = self.assignment()
        offsets = {tp: offset for tp, offset in done.items() if tp in held}
        if not offsets:
            return
        try:
            await self._commit_offsets(offsets)
        except BaseException:
            # the decisions are delivered, so commit these offsets next time
            for tp, offset in offsets.items():
                self._done[tp] = max(offset, self._done.get(tp, 0))
            raise
        if self._outage is not None:
            self._outage.over()
            self._outage = None

    async def _settle(self) -> None:
        """Finish the batch in flight and commit everything (before stopping or a rebalance)."""
        await self._finish_in_flight()
        await self._commit()

    async def _retry_later(self, exc: BaseException) -> None:
        """Back off before the next attempt (warnings are bounded by :class:`Outage`)."""
        if self._outage is None:
            self._outage = Outage("batch reader")
        await self.sleep(self._outage.failed(exc))
