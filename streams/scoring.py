"""Scoring off the event loop, under a time budget per batch.

The model is pure CPU work. Run in the event loop, a slow batch stops everything else the worker
does there: consumer heartbeats, ``/health``, the SIGTERM handler. :class:`Scorer` sends each
batch to a scoring process (``streams.scoring_process``), or runs it in a worker thread, while
the loop goes on. A batch that outlasts the budget is scored again one event at a time, each with
the same budget, so the slow event is found: an event over its budget becomes a
``scoring_timeout`` failure and the rest of the batch is decided as usual.

A scoring process over budget is killed; the calls queued behind the one that overran fail with
it and are scored again event by event. A Python thread cannot be stopped: the thread left
running a call over budget is retired. It finishes that call, drops the result and exits, and a
fresh thread takes the next calls. At most ``MAX_RETIRED`` retired threads may still be running;
past that the scorer waits (in the event loop, which meanwhile serves everything else) for the
oldest to finish, so a flood of slow events cannot pile up threads. The threads are daemons: one
still busy cannot keep a stopping worker alive.

The budget of a call counts from when the thread or the process starts it, not from when it was
queued: a reader hands the next batch to the scorer while it decides the previous one
(``streams.pipeline``), so a call can wait behind another. When a thread is retired, the calls
queued behind the one that overran move to the fresh thread.

A thread frees the event loop only because Python switches threads between bytecodes; one C call
that holds the interpreter lock for long (a backtracking regular expression) would still stall
the loop, which is why the normalizer's patterns are linear (``tests/unit/test_hostile_input.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar, cast

import numpy as np

from models.normalize import Analysis
from models.rules import Contacts, contacts_of
from streams import metrics
from streams.campaigns import Fingerprint, fingerprints_or_empty
from streams.decide import ScoringFailure, score_events
from streams.decoding import Event
from streams.model_holder import ServingModel
from streams.scoring_process import Call, ScoringProcess

log = logging.getLogger(__name__)

MAX_RETIRED = 2
# Characters of text one budget covers: a batch with more gets budgets in proportion. The
# budget is there to catch a hang, and a full batch of the longest texts allowed (256 x 20,000
# characters) took 6.5 s to score on the development machine, over the 5 s default: it was
# cut off and every event scored again alone, twice the work under a flood of long messages.
# Scoring cost about 1.25 us a character there; a budget covers this many at four times that.
CHARS_PER_BUDGET = 1_000_000
TIMEOUT_KIND = "scoring_timeout"
# how long a scoring process may take to receive a model version and warm up
MODEL_LOAD_BUDGET_S = 120.0

T = TypeVar("T")


@dataclass(eq=False)
class _Job(Generic[T]):
    """One call for the scoring thread, and when the thread started it (None while queued)."""

    call: Callable[[], T]
    future: concurrent.futures.Future[T] = field(default_factory=concurrent.futures.Future)
    started: float | None = None
    ended: float | None = None


class _ScoringThread:
    """One daemon thread that runs calls in the order they are submitted."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="chatguard-scoring", daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], T]) -> _Job[T]:
        return self.put(_Job(call))

    def put(self, job: _Job[T]) -> _Job[T]:
        self._jobs.put(job)
        return job

    def retire(self) -> list[_Job[Any]]:
        """Exit after the call in hand; the calls still queued are returned, for another thread."""
        queued: list[_Job[Any]] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                queued.append(job)
        self._jobs.put(None)
        return queued

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue
            job.started = time.monotonic()
            try:
                result = job.call()
            except BaseException as exc:  # handed to whoever awaits the future
                job.ended = time.monotonic()
                job.future.set_exception(exc)
            else:
                job.ended = time.monotonic()
                job.future.set_result(result)


@dataclass(frozen=True)
class Scoring:
    """A batch handed to the scoring thread by :meth:`Scorer.begin`; :meth:`Scorer.scored`
    waits for its scores."""

    serving: ServingModel
    events: Sequence[Event]
    memo: dict[str, Analysis] | None
    job: _Job[tuple[np.ndarray, list[ScoringFailure]]] | Call  # a thread's or the child's
    # the texts' campaign fingerprints, computed with the scores (None: not asked for)
    fingerprints: dict[str, Fingerprint] | None = None
    # the contact tokens of the texts that may carry one, computed with the scores (None: not
    # asked for; a text missing from it is searched by whoever needs it)
    contacts: dict[str, Contacts] | None = None

    def seconds(self) -> float | None:
        """How long the thread or the child took for the batch (None if it was not scored in
        one call)."""
        job = self.job
        return None if job.started is None or job.ended is None else job.ended - job.started


class Scorer:
    """``score_events`` in a worker thread; events over ``budget_s`` become timeout failures.

    With ``in_process=False`` each batch goes to a :class:`ScoringProcess` instead, straight
    from the event loop; a batch over budget kills that process.

    A process that cannot take a model version within ``load_budget_s`` (it hangs or dies
    while loading it) is killed, and that version is scored in the thread instead, in the
    worker's process: slower, but no batch waits for a process that will never be ready. The
    next version tries a process again.

    With ``fingerprint_partitions``, each batch's campaign fingerprints (over that many
    partitions) are computed in the same call as its scores: in the scoring process, they cost
    the event loop nothing. So are, with ``find_contacts``, the contact tokens the rules and
    the learned list look up (a profile of a worker on a backlog put their search at 7% of its
    event loop)."""

    def __init__(
        self,
        budget_s: float,
        in_process: bool = True,
        fingerprint_partitions: int | None = None,
        load_budget_s: float = MODEL_LOAD_BUDGET_S,
        find_contacts: bool = False,
    ) -> None:
        self.budget_s = budget_s
        self.load_budget_s = load_budget_s
        self._fingerprint_partitions = fingerprint_partitions
        self._find_contacts = find_contacts
        self._in_thread: set[str] = set()  # versions no scoring process could take
        self._thread: _ScoringThread | None = None  # started on first use, in the worker
        self._retired: list[concurrent.futures.Future[Any]] = []
        self._process = None if in_process else ScoringProcess()

    async def score(
        self,
        serving: ServingModel,
        events: Sequence[Event],
        memo: dict[str, Analysis] | None = None,
    ) -> tuple[np.ndarray, list[ScoringFailure]]:
        """Scores for ``events`` (rows of failed events are NaN), and the failures; ``memo`` as
        in ``score_events``."""
        await self.ready(serving)
        return await self.scored(self.begin(serving, events, memo))

    def begin(
        self,
        serving: ServingModel,
        events: Sequence[Event],
        memo: dict[str, Analysis] | None = None,
    ) -> Scoring:
        """Hand ``events`` to the scoring thread now and return at once (after :meth:`ready`
        for ``serving``), so the caller can work on something else while they are scored."""
        found: dict[str, Fingerprint] | None = None
        if self._fingerprint_partitions is not None:
            found = {}
        contacts: dict[str, Contacts] | None = {} if self._find_contacts else None
        job = self._submit(serving, events, memo, found, contacts)
        return Scoring(serving, events, memo, job, found, contacts)

    async def scored(self, scoring: Scoring) -> tuple[np.ndarray, list[ScoringFailure]]:
        """The outcome of :meth:`begin`: a batch over budget is scored again event by event."""
        serving, events, memo = scoring.serving, scoring.events, scoring.memo
        budget = self.budget_for(events)
        done = await self._outcome(scoring.job, budget)
        if done is not None:
            return done
        log.warning(
            "a batch of %d event(s) took over the %.1f s scoring budget", len(events), budget
        )
        if len(events) == 1:
            return np.full((1, len(serving.model.labels)), np.nan), [self._timeout(0)]
        scores = np.full((len(events), len(serving.model.labels)), np.nan)
        failures: list[ScoringFailure] = []
        for i, event in enumerate(events):
            await self.ready(serving)
            one = await self._outcome(self._submit(serving, [event], memo))
            if one is None:
                failures.append(self._timeout(i))
                log.warning("event %s not scored within %.1f s", event.event_id, self.budget_s)
            elif one[1]:
                failures.append(ScoringFailure(i, one[1][0].error, one[1][0].kind))
            else:
                scores[i] = one[0][0]
        return scores, failures

    def budget_for(self, events: Sequence[Event]) -> float:
        """The scoring budget of a batch: one for every :data:`CHARS_PER_BUDGET` characters of
        its texts, and at least one."""
        chars = sum(len(event.text) for event in events)
        return self.budget_s * max(1.0, chars / CHARS_PER_BUDGET)

    async def warm(self, serving: ServingModel) -> None:
        """Start the scoring process with ``serving``'s model now, not on the first batch."""
        await self.ready(serving)

    async def ready(self, serving: ServingModel) -> None:
        """With a scoring process: it is running and holds ``serving``'s model, outside the
        budget (starting a child and copying the model to it is not the batch's time). If it
        cannot within ``load_budget_s``, the version is scored in the thread from now on."""
        process, model = self._process, serving.model
        if process is None or process.holds(model) or model.version in self._in_thread:
            return
        try:
            await asyncio.wait_for(process.ensure(model), self.load_budget_s)
        except Exception as exc:  # a hang (timeout) or a child that died or refused the model
            process.stop("load")  # a hung child is killed
            self._in_thread.add(model.version)
            metrics.SCORING_IN_THREAD.inc()
            log.error(
                "the scoring process could not take model %s within %.0f s (%r): that version "
                "is scored in the worker's process instead",
                model.version,
                self.load_budget_s,
                exc,
            )

    def _thread_now(self) -> _ScoringThread:
        if self._thread is None:
            self._thread = _ScoringThread()
        return self._thread

    def _submit(
        self,
        serving: ServingModel,
        events: Sequence[Event],
        memo: dict[str, Analysis] | None,
        fingerprints: dict[str, Fingerprint] | None = None,
        contacts: dict[str, Contacts] | None = None,
    ) -> _Job[tuple[np.ndarray, list[ScoringFailure]]] | Call:
        """``events`` sent to the scoring process, or else queued for the scoring thread."""
        texts = [event.text for event in events]
        partitions = self._fingerprint_partitions or 1
        if self._process is not None and serving.model.version not in self._in_thread:
            return self._process.score(
                serving.model, texts, memo, fingerprints, partitions, contacts
            )
        if fingerprints is None and contacts is None:
            return self._thread_now().submit(partial(score_events, serving, events, memo))

        def score_and_search() -> tuple[np.ndarray, list[ScoringFailure]]:
            seen: dict[str, Analysis] = {} if memo is None else memo
            outcome = score_events(serving, events, seen)
            if contacts is not None:
                contacts.update(contacts_of(texts, seen))
            if fingerprints is not None:
                fingerprints.update(fingerprints_or_empty(texts, seen, partitions, contacts))
            return outcome

        return self._thread_now().submit(score_and_search)

    async def close(self) -> None:
        """Stop the scoring process, if any (the thread is a daemon and holds nothing)."""
        if self._process is not None:
            self._process.stop()

    async def run(self, call: Callable[[], T]) -> T | None:
        """Other CPU work of the batch (sender entries, fingerprints scoring did not compute)
        in the scoring thread, under the same budget; None if it outlasted it."""
        return await self._within_budget(call)

    def _timeout(self, index: int) -> ScoringFailure:
        return ScoringFailure(index, f"not scored within {self.budget_s:g} s", TIMEOUT_KIND)

    async def _within_budget(self, call: Callable[[], T]) -> T | None:
        """``call()`` run in the scoring thread, or None if it outlasted the budget."""
        return await self._outcome(self._thread_now().submit(call))

    async def _outcome(self, job: _Job[T] | Call, budget: float | None = None) -> T | None:
        """``job``'s result, or None if it ran longer than ``budget`` (the scorer's, unless
        given): a call to the scoring process kills that process then, a thread is retired.
        Time spent queued behind another call does not count."""
        budget = self.budget_s if budget is None else budget
        waiter = asyncio.wrap_future(job.future)
        while True:
            started = job.started
            wait = budget if started is None else started + budget - time.monotonic()
            done, _ = await asyncio.wait({waiter}, timeout=max(wait, 0.0))
            if done:
                return cast(T, waiter.result())
            if job.started is not None and time.monotonic() - job.started >= budget:
                break
        waiter.add_done_callback(_drop_outcome)  # nobody waits for it any more
        if isinstance(job, Call):
            if self._process is not None:
                self._process.stop("budget")  # frees the core; the calls it held fail
            return None
        self._retire_thread()
        self._retired.append(job.future)
        await self._bound_retired()
        return None

    def _retire_thread(self) -> None:
        """The scoring thread is stuck in a call: it exits after that call, and the calls
        queued behind it go on in a fresh thread."""
        queued = self._thread_now().retire()
        self._thread = None
        if queued:
            fresh = self._thread_now()
            for other in queued:
                fresh.put(other)

    async def _bound_retired(self) -> None:
        """Wait while more than ``MAX_RETIRED`` retired threads are still running."""
        self._retired = [future for future in self._retired if not future.done()]
        while len(self._retired) > MAX_RETIRED:
            log.warning(
                "%d scoring threads are still busy with calls over budget: waiting for one",
                len(self._retired),
            )
            await asyncio.wait({asyncio.wrap_future(self._retired[0])})
            self._retired = [future for future in self._retired if not future.done()]


def _drop_outcome(future: asyncio.Future[Any]) -> None:
    """Mark an abandoned call's outcome as seen (a killed child's call ends with an error that
    would otherwise be logged as never retrieved)."""
    if not future.cancelled():
        future.exception()
