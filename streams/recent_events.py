"""The recent-events store: the account of every event moderated in the report window, which a
user report must match to count (``streams.reports`` says why).

Why not a Faust table: a table entry costs a changelog record through Faust's producer and an
expiry key held in memory, per event. In profiles of a worker on a backlog that was the largest
single cost after the model, for data that ``events.by_id`` already holds. So the store is a
plain RocksDB on the worker's disk, written one ``seen`` record (a batch of events) at a time,
and ``events.by_id`` is its changelog: before a worker folds a record of a partition, it folds
the ``seen`` records of that partition it has not folded yet, from the start of the window
(:func:`catch_up`). That covers a new host, a lost data dir and partitions that were on another
worker for a while; reports on that partition wait meanwhile, as they waited for Faust's table
recovery.

Expiry is by generation: one database per window (``strike_window_s``); a lookup reads the
current and the previous one, and older ones are deleted whole. An event counts for one to two
windows after it was moderated, as it did in the windowed table.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rocksdict import Options, Rdict, WriteBatch

from chatguard.settings import Settings
from streams import kafka_options, topics, unreadable
from streams.decoding import too_many_containers
from streams.fleet_signing import FleetSigner
from streams.reports import most_seen, seen_entries

log = logging.getLogger(__name__)
WATERMARKS = "next-offsets"  # events.by_id partition → the next offset to fold
GENERATION = "window-"
WRITE_BUFFER_BYTES = 8 * 1024 * 1024


def _sent_by(event_key: bytes, account: str) -> bytes:
    """The key saying an event of this id came from ``account``: 0xFF, which no UTF-8 text
    holds, keeps it apart from every event id, and the id's length from every other pair."""
    return b"\xff" + len(event_key).to_bytes(4, "big") + event_key + account.encode()


def _reported_by(event_key: bytes, reporter: str) -> bytes:
    """The key saying ``reporter`` reported the event of this id: 0xFE, which no UTF-8 text
    holds either, keeps it apart from ids and from :func:`_sent_by` keys."""
    return b"\xfe" + len(event_key).to_bytes(4, "big") + event_key + reporter.encode()


class RecentEvents:
    """event id → account, for events moderated in the current or the previous window."""

    def __init__(self, directory: Path, window_s: float) -> None:
        self.directory = directory
        self.window_s = window_s
        self._options = Options(raw_mode=True)
        # RocksDB's 64 MB default: a busy partition's ids filled it before a flush, in memory,
        # in each of the two generations a window's end keeps (400,000 ids: +58 MB of RSS,
        # +16 MB with this)
        self._options.set_write_buffer_size(WRITE_BUFFER_BYTES)
        self._watermarks: Rdict | None = None  # opened on first use: a worker built only
        self._generations: dict[int, Rdict] = {}  # to be inspected opens no database
        self._kept_from = -1  # generations before this one are deleted already

    @property
    def _next(self) -> Rdict:
        if self._watermarks is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._watermarks = Rdict(str(self.directory / WATERMARKS), self._options)
        return self._watermarks

    def add(
        self, entries: Iterable[tuple[str, str]], at: float, partition: int, offset: int
    ) -> None:
        """Fold one ``seen`` record (moderated at ``at``) found at ``partition``/``offset``.
        Only the current and the previous window are kept, and the next one for a clock a
        little ahead: a forged ``at`` far ahead opened a database for each window it named
        (file handles run out), and an infinite or huge one raised on every replay."""
        current = int(time.time() // self.window_s)
        window = int(at // self.window_s) if math.isfinite(at) else current - 2
        if current - 1 <= window <= current + 1:
            batch = WriteBatch(raw_mode=True)
            for event_id, account in entries:
                key = event_id.encode()
                batch.put(key, account.encode())  # the last account seen with it
                batch.put(_sent_by(key, account), b"")  # and every one
            self._generation(window).write(batch)
        self.folded(partition, offset)
        self._drop_before(current - 1)

    def folded(self, partition: int, offset: int) -> None:
        """Record that everything of ``partition`` up to ``offset`` is folded."""
        self._next[str(partition).encode()] = str(offset + 1).encode()

    def next_offset(self, partition: int) -> int | None:
        """The first offset of ``partition`` not folded yet (None: never followed here)."""
        value = self._next.get(str(partition).encode())
        return int(value) if value is not None else None

    def account(
        self, event_id: str, now: float | None = None, claimed: str | None = None
    ) -> str | None:
        """The account whose event ``event_id`` was moderated in this window or the last:
        ``claimed`` if an event of that id came from it, else the last account one came from.
        Event ids come from clients: a second account that sent its own messages under an
        abuser's ids made every report of the abuser's name another account."""
        window = int((time.time() if now is None else now) // self.window_s)
        key = event_id.encode()
        databases = [db for g in (window, window - 1) if (db := self._existing(g)) is not None]
        if claimed is not None:
            member = _sent_by(key, claimed)
            if any(db.get(member) is not None for db in databases):
                return claimed
        for db in databases:
            value = db.get(key)
            if value is not None:
                return bytes(value).decode()
        return None

    def first_report(
        self, event_id: str, reporter: str, report_id: str, now: float | None = None
    ) -> bool:
        """Whether ``report_id`` is ``reporter``'s first report of ``event_id`` in this window or
        the last (the same report read again is still the first); remembered. A reporter's
        count of reports is what a platform pays for: one reporter filed 10,000 report ids
        against one message and its count said 10,000."""
        window = int((time.time() if now is None else now) // self.window_s)
        key = _reported_by(event_id.encode(), reporter)
        for generation in (window, window - 1):
            db = self._existing(generation)
            first = None if db is None else db.get(key)
            if first is not None:
                return bytes(first).decode() == report_id
        self._generation(window)[key] = report_id.encode()
        return True

    def databases(self, now: float | None = None) -> list[Rdict]:
        """The generations a lookup at ``now`` reads (for the state gauges,
        ``streams.state_size``)."""
        window = int((time.time() if now is None else now) // self.window_s)
        found = (self._existing(generation) for generation in (window, window - 1))
        return [db for db in found if db is not None]

    def close(self) -> None:
        for db in self._generations.values():
            db.close()
        self._generations.clear()
        if self._watermarks is not None:
            self._watermarks.close()
            self._watermarks = None

    def _path(self, window: int) -> Path:
        return self.directory / f"{GENERATION}{window}"

    def _generation(self, window: int) -> Rdict:
        db = self._generations.get(window)
        if db is None:
            db = self._generations[window] = Rdict(str(self._path(window)), self._options)
        return db

    def _existing(self, window: int) -> Rdict | None:
        if window in self._generations or self._path(window).exists():
            return self._generation(window)
        return None

    def _drop_before(self, window: int) -> None:
        """Delete the generations older than ``window``: their events are out of the window.
        Looks at the disk once per window, not once per record."""
        if window <= self._kept_from:
            return
        self._kept_from = window
        for path in self.directory.glob(f"{GENERATION}*"):
            generation = int(path.name[len(GENERATION) :])
            if generation < window:
                db = self._generations.pop(generation, None)
                if db is not None:
                    db.close()
                shutil.rmtree(path, ignore_errors=True)
                log.info("recent events: dropped the generation of window %d", generation)


async def catch_up(
    store: RecentEvents, settings: Settings, partition: int, until: int, reader: Replay
) -> int:
    """Fold the ``seen`` records of ``events.by_id`` ``partition`` that ``store`` lacks, up to
    (not including) offset ``until``; how many records were read."""
    start = store.next_offset(partition)
    if start is not None and start >= until:
        return 0
    read = 0
    async for offset, record in reader.records(partition, start, until):
        if record.get("kind") == "seen":
            # a forged record is skipped here, whatever it raises (a replay that raised would
            # raise again on every report); the agent dead-letters it when it reads it
            with contextlib.suppress(Exception):
                entries = seen_entries(record, most_seen(settings.batch_size))
                store.add(entries, float(record["at"]), partition, offset)
        read += 1
    store.folded(partition, until - 1)
    if read:
        log.info("recent events: replayed %d records of partition %d", read, partition)
    return read


class Replay:
    """Reads ``events.by_id`` partitions back for :func:`catch_up` (one consumer, kept open)."""

    def __init__(self, settings: Settings, signer: FleetSigner) -> None:
        self.settings = settings
        self.signer = signer  # a record not signed by the fleet is skipped
        self.topic = settings.topic(topics.EVENTS_BY_ID)
        self._consumer: AIOKafkaConsumer | None = None

    async def records(
        self, partition: int, start: int | None, until: int
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """The records of ``partition`` from ``start`` (None: the start of the previous window)
        up to ``until``, as ``(offset, parsed value)``; unreadable and unsigned values are
        skipped (the agent dead-letters them when it reads them itself)."""
        consumer = await self._started()
        tp = TopicPartition(self.topic, partition)
        consumer.assign([tp])
        if start is None:
            since = int((time.time() - 2 * self.settings.strike_window_s) * 1000)
            found = (await consumer.offsets_for_times({tp: since}))[tp]
            start = found.offset if found is not None else until
        consumer.seek(tp, start)
        positions = {tp: start}
        while positions[tp] < until:
            # an unreadable batch is stepped over: the agent dead-letters it when it reads it
            fetched, _ = await unreadable.fetch_from(consumer, [tp], positions, 1000, 1000)
            for message in fetched.get(tp, []):
                if message.offset >= until:
                    return
                if self.signer.problem(tp.topic, message.key, message.value, message.headers):
                    continue
                if too_many_containers(message.value or b"") is not None:
                    continue
                try:
                    value = orjson.loads(message.value or b"")
                except orjson.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    yield message.offset, value

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                **kafka_options.committed_reader(self.settings, "recent-events")
            )
            await self._consumer.start()
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
