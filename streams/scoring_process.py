"""The model in a process of its own, so scoring does not take turns with the event loop.

In one process, the model's CPU work and the event loop's (Kafka I/O, decoding, deciding,
producing) share one interpreter lock: a worker's throughput is the sum of their costs, whatever
the cores. :class:`ScoringProcess` keeps a child process that holds a copy of the serving model
and scores batches sent to it over a socket pair, so the child's scoring runs beside everything
the event loop does. With campaigns on, the child also fingerprints each batch
(``streams.campaigns.fingerprints``) and sends the fingerprints back with the scores: that CPU
work leaves the worker's process as well.

The event loop talks to the child itself, without a thread: a batch is written to the socket
and its answer read when the socket is readable, like any other connection of the loop. A thread
waiting on the pipe (as this was first written) had to take the interpreter lock back from a busy
loop twice a batch, once to send and once to read the answer: up to a switch interval (5 ms)
each time. At 1,000 events/s that made most of the wait for a batch's scores (10 ms a batch,
of which the child's work was about 3).
Requests are framed as ``multiprocessing.Connection`` frames them, so the child reads them with
a plain blocking ``Connection`` (``streams.scoring_child.serve``), and answers come back in the
order the requests went.

The child is forked from a fork server started with the modules it needs already imported
(``multiprocessing``'s ``forkserver``): no fork of the threaded worker itself, and a restart
takes milliseconds plus the model's copy. The model travels once per version over the socket
(pickled, in a thread, from the verified model the worker loaded; the child never reads the
registry). A child that does not answer within the scoring budget is killed (``stop``), which a
thread could never be; the next call starts a fresh one. A child that dies mid-call makes the
calls it held raise :class:`ScoringProcessDied`, which the pipeline treats like any scoring
error: the batch is scored again event by event, so only an event that kills the child is
dead-lettered.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
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
# a frame's length as ``multiprocessing.Connection`` writes it: 4 bytes, or -1 and 8 bytes
_SHORT_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")
_LONGEST_SHORT_FRAME = 0x7FFFFFFF


class ScoringProcessDied(RuntimeError):
    """The scoring child exited (killed, out of memory, a crash) before it answered."""


@dataclass(eq=False)
class Call:
    """One request to the child: the future of its result, and when the child began and ended
    it (``started`` is None while it waits behind an earlier request)."""

    finish: Callable[[Any], Any]  # the call's result, from the child's answer
    future: asyncio.Future[Any]
    started: float | None = None
    ended: float | None = None


class ScoringProcess:
    """One scoring child, driven from the event loop."""

    def __init__(self) -> None:
        self._process: Any = None
        self._transport: asyncio.Transport | None = None
        self._answers: _Answers | None = None  # the reader of the current child's socket
        self._calls: deque[Call] = deque()  # sent and not answered yet, oldest first
        self._version: str | None = None
        self._loading = asyncio.Lock()  # one start or model change at a time
        self._next_cause = "start"  # why the next child starts (a label of the metric)

    async def ensure(self, model: VersionedScorer) -> None:
        """A live child holding ``model``'s version: started and sent the model if needed."""
        async with self._loading:
            if self._transport is None:
                await self._start()
            if self._version != model.version:
                self._version = None  # no batch goes to the child while it changes model
                request = await asyncio.to_thread(_framed, ("model", model))
                await self._send(request, _no_result).future
                self._version = model.version

    def holds(self, model: VersionedScorer) -> bool:
        """Whether a child is running with ``model``'s version (a batch can go to it now)."""
        return self._transport is not None and self._version == model.version

    def score(
        self,
        model: VersionedScorer,
        texts: Sequence[str],
        memo: dict[str, Analysis] | None,
        fingerprints: dict[str, Fingerprint] | None = None,
        partitions: int = 1,
        contacts: dict[str, Contacts] | None = None,
    ) -> Call:
        """``score_texts`` in the child, sent now (after :meth:`ensure` for ``model``); the
        call's result is the scores and failures. ``memo`` gets the normalized texts the child
        computed, ``fingerprints``, if given, the texts' campaign fingerprints over
        ``partitions``, and ``contacts``, if given, the contact tokens of the texts that may
        carry one."""
        if not self.holds(model):
            call = Call(_no_result, asyncio.get_running_loop().create_future())
            call.future.set_exception(ScoringProcessDied("the scoring process was stopped"))
            return call

        def finish(answer: Any) -> tuple[np.ndarray, list[ScoringFailure]]:
            scores, failures, analyses, found, tokens = answer
            if memo is not None:
                memo.update(analyses)
            if fingerprints is not None:
                fingerprints.update(found)
            if contacts is not None:
                contacts.update(tokens)
            return scores, failures

        request = (
            "score",
            list(texts),
            memo is not None,
            fingerprints is not None,
            partitions,
            contacts is not None,
        )
        return self._send(_framed(request), finish)

    def stop(self, cause: str = "start") -> None:
        """Kill the child; the calls it held end with :class:`ScoringProcessDied`. ``cause``:
        why the next child will start (``budget`` when this one overran)."""
        self._next_cause = cause
        process, transport = self._process, self._transport
        self._process = self._transport = self._answers = None
        self._version = None
        if process is not None:
            process.kill()
        if transport is not None:
            transport.abort()
        if process is not None:
            process.join(timeout=5)
        self._fail_calls("the scoring process was stopped")

    async def _start(self) -> None:
        # starting the fork server (the first child) waits for its imports: not in the loop
        process, ours = await asyncio.to_thread(_spawn)
        answers = _Answers(self)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(lambda: answers, ours)
        self._process, self._transport, self._answers = process, transport, answers
        self._version = None
        metrics.SCORING_PROCESS_STARTS.labels(cause=self._next_cause).inc()
        self._next_cause = "start"

    def _send(self, request: bytes, finish: Callable[[Any], Any]) -> Call:
        transport = self._transport
        call = Call(finish, asyncio.get_running_loop().create_future())
        if transport is None:
            call.future.set_exception(ScoringProcessDied("the scoring process was stopped"))
            return call
        if not self._calls:
            call.started = time.monotonic()
        self._calls.append(call)
        transport.write(request)
        return call

    def _answered(self, answers: _Answers, frame: bytes) -> None:
        """The answer to the oldest call, from ``answers``'s child."""
        if answers is not self._answers or not self._calls:
            return  # a stopped child's late answer
        call = self._calls.popleft()
        call.ended = now = time.monotonic()
        if self._calls:
            self._calls[0].started = now  # the child goes on to the next one now
        if call.future.done():  # cancelled by whoever waited
            return
        try:
            ok, answer = pickle.loads(frame)
            if not ok:
                # the child's error: its text, or an OSError of a shortage (scoring_child.serve)
                raise answer if isinstance(answer, OSError) else RuntimeError(answer)
            result = call.finish(answer)
        except Exception as exc:
            call.future.set_exception(exc)
        else:
            call.future.set_result(result)

    def _lost(self, answers: _Answers, exc: Exception | None) -> None:
        """``answers``'s socket closed: the child died by itself, unless it was stopped."""
        if answers is not self._answers:
            return
        process = self._process
        self._process = self._transport = self._answers = None
        self._version, self._next_cause = None, "died"
        if process is not None:
            process.join(timeout=5)
        cause = type(exc).__name__ if exc is not None else "EOFError"
        self._fail_calls(f"the scoring process exited before it answered ({cause})")

    def _fail_calls(self, message: str) -> None:
        calls, self._calls = self._calls, deque()
        for call in calls:
            if not call.future.done():
                call.future.set_exception(ScoringProcessDied(message))


class _Answers(asyncio.Protocol):
    """Reads the child's answers off its socket, a frame at a time."""

    def __init__(self, owner: ScoringProcess) -> None:
        self._owner = owner
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (frame := self._frame()) is not None:
            self._owner._answered(self, frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost(self, exc)

    def _frame(self) -> bytes | None:
        """The first whole frame in the buffer, taken out of it (None until one is in)."""
        buffer = self._buffer
        if len(buffer) < _SHORT_LENGTH.size:
            return None
        (size,) = _SHORT_LENGTH.unpack_from(buffer)
        start = _SHORT_LENGTH.size
        if size == -1:
            if len(buffer) < start + _LONG_LENGTH.size:
                return None
            (size,) = _LONG_LENGTH.unpack_from(buffer, start)
            start += _LONG_LENGTH.size
        if len(buffer) < start + size:
            return None
        frame = bytes(buffer[start : start + size])
        del buffer[: start + size]
        return frame


def _framed(request: Any) -> bytes:
    """``request`` pickled and framed as ``Connection.send`` would, for the child's ``recv``."""
    payload = ForkingPickler.dumps(request)
    size = len(payload)
    if size > _LONGEST_SHORT_FRAME:
        return _SHORT_LENGTH.pack(-1) + _LONG_LENGTH.pack(size) + payload
    return _SHORT_LENGTH.pack(size) + payload


def _spawn() -> tuple[Any, socket.socket]:
    """A fresh child serving the other end of a socket pair, and this end."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    ours, theirs = socket.socketpair()
    child_end = Connection(theirs.detach())
    process = context.Process(
        target=serve, args=(child_end,), name="chatguard-scoring", daemon=True
    )
    try:
        process.start()
    finally:
        child_end.close()
    return process, ours


def _no_result(answer: Any) -> None:
    """What a call whose answer carries nothing (taking a model) results in."""
