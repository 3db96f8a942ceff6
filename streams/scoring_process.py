"""The model in a process of its own, so scoring does not take turns with the event loop.

In one process, the model's CPU work and the event loop's (Kafka I/O, decoding, deciding,
producing) share one interpreter lock: a worker's throughput is the sum of their costs, whatever
the cores. :class:`ScoringProcess` keeps a child process that holds a copy of the serving model
and scores batches sent to it over a pipe; the worker's scoring thread waits on the pipe with the
lock released, so the child's scoring runs beside everything the event loop does. With
campaigns on, the child also fingerprints each batch (``streams.campaigns.fingerprints``) and
sends the fingerprints back with the scores: that CPU work leaves the worker's process as well.

The child is forked from a fork server started with the modules it needs already imported
(``multiprocessing``'s ``forkserver``): no fork of the threaded worker itself, and a restart
takes milliseconds plus the model's copy. The model travels once per version over the pipe
(pickled from the verified model the worker loaded; the child never reads the registry). A
child that does not answer within the scoring budget is killed (``stop``), which a thread could
never be; the next call starts a fresh one. A child that dies mid-call makes that call raise
:class:`ScoringProcessDied`, which the pipeline treats like any scoring error: the batch is
scored again event by event, so only an event that kills the child is dead-lettered.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from models.normalize import Analysis
from models.scorer import VersionedScorer
from streams import metrics
from streams.scoring_child import ScoringFailure, serve

if TYPE_CHECKING:
    from models.rules import Contacts
    from streams.campaigns import Fingerprint

# what the fork server imports once, so that each child starts with the model's code loaded:
# the child's loop and what unpickling a model needs, not the worker's Faust, web server and
# metrics (about 15 MB less in the fork server, and again in each child)
_PRELOAD = ["streams.scoring_child", "models.artifact"]


class ScoringProcessDied(RuntimeError):
    """The scoring child exited (killed, out of memory, a crash) before it answered."""


class ScoringProcess:
    """One scoring child; calls come from one thread at a time (the scorer's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._version: str | None = None
        self._next_cause = "start"  # why the next child starts (a label of the metric)

    def ensure(self, model: VersionedScorer) -> None:
        """A live child holding ``model``'s version: started and sent the model if needed."""
        with self._lock:
            if self._conn is None:
                self._start()
            if self._version != model.version:
                self._call(("model", model))
                self._version = model.version

    def holds(self, model: VersionedScorer) -> bool:
        """Whether a child is running with ``model``'s version (a batch can go to it now)."""
        return self._conn is not None and self._version == model.version

    def score(
        self,
        model: VersionedScorer,
        texts: Sequence[str],
        memo: dict[str, Analysis] | None,
        fingerprints: dict[str, Fingerprint] | None = None,
        partitions: int = 1,
        contacts: dict[str, Contacts] | None = None,
    ) -> tuple[np.ndarray, list[ScoringFailure]]:
        """``score_texts`` in the child; ``memo`` gets the normalized texts it computed,
        ``fingerprints``, if given, the texts' campaign fingerprints over ``partitions``, and
        ``contacts``, if given, the contact tokens of the texts that may carry one."""
        self.ensure(model)
        request = (
            "score",
            list(texts),
            memo is not None,
            fingerprints is not None,
            partitions,
            contacts is not None,
        )
        with self._lock:
            scores, failures, analyses, found, tokens = self._call(request)
        if memo is not None:
            memo.update(analyses)
        if fingerprints is not None:
            fingerprints.update(found)
        if contacts is not None:
            contacts.update(tokens)
        return scores, failures

    def stop(self, cause: str = "start") -> None:
        """Kill the child; a call in hand ends with :class:`ScoringProcessDied`. ``cause``: why
        the next child will start (``budget`` when this one overran)."""
        self._next_cause = cause
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._version = None
        if process is not None:
            process.kill()
        if conn is not None and self._lock.acquire(blocking=False):
            try:  # no call in hand: nobody else will close it
                conn.close()
            finally:
                self._lock.release()
        if process is not None:
            process.join(timeout=5)

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve, args=(theirs,), name="chatguard-scoring", daemon=True
        )
        process.start()
        theirs.close()
        self._process, self._conn, self._version = process, ours, None
        metrics.SCORING_PROCESS_STARTS.labels(cause=self._next_cause).inc()
        self._next_cause = "start"

    def _call(self, request: tuple[Any, ...]) -> Any:
        """Send ``request`` and wait for the answer (the caller holds the lock)."""
        conn = self._conn
        if conn is None:
            msg = "the scoring process was stopped"
            raise ScoringProcessDied(msg)
        try:
            conn.send(request)
            ok, answer = conn.recv()
        except (EOFError, OSError) as exc:
            conn.close()
            if self._conn is conn:  # died by itself, not stopped: the next call starts another
                self._conn, self._version, self._next_cause = None, None, "died"
                if self._process is not None:
                    self._process.join(timeout=5)
                    self._process = None
            msg = f"the scoring process exited before it answered ({type(exc).__name__})"
            raise ScoringProcessDied(msg) from exc
        if not ok:
            # the child's error: its text, or an OSError of a shortage (scoring_child.serve)
            raise answer if isinstance(answer, OSError) else RuntimeError(answer)
        return answer
