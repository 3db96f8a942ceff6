"""``campaign.fingerprints`` → each band's members → campaigns, a batch at a time: a service of
the Faust worker, like the batch reader, on when ``CHATGUARD_CAMPAIGNS`` is.

Why not a Faust agent with a windowed table: every band record then cost Faust's per-record
consumer path and a table write, which is a RocksDB put and a changelog record of the band's
whole state (about 15 KB for a busy band). Profiled on a backlog, those were most of the worker's
time, and the agent folded under 3,000 records a second against the 4.5 records a moderated
event writes. Here one consumer (group ``<app id>.campaigns``) fetches up to
:data:`FOLD_BATCH` records, each band's state is read and updated once per batch, and the
states and the next offset of each partition go to RocksDB together, once a second (below).

The topic is its own changelog, as ``events.by_id`` is the recent-events store's: a band's state
is the fold of its records in the window, and they are all on its partition. A worker that is
given a partition goes on from the next offset its store holds for it; with no such offset, or
one from before the previous window (a new host, a lost data dir), it forgets what it held for
the partition and folds it again from the start of the previous window. Records below the
group's committed offset were already folded and announced by an earlier owner, so they are
folded quietly: a band that becomes due among them is marked announced, not announced again.

At least once: announcements and dead letters are delivered before the batch's states and
offsets are staged. Staged states and offsets go to RocksDB together, once a second (before
each commit of the group's offsets) and whenever many are staged: a busy band is then encoded
and written once a second, not once per batch (profiled on a backlog, writing each batch's states
was a quarter of the worker's time). A crash re-folds, and may re-announce, at most the batches
staged since the last write; the group's offsets are committed after that write. Like the Faust
table it replaces, a band's state is kept per tumbling window (``campaign_window_s``) by its
records' times, and windows older than the previous one are deleted; a band new in a window
goes on from its state in the previous one (``BandStore.going_on``), so a campaign that spans a
window's end is counted whole.

A record batch the client cannot decompress is found, dead-lettered (partition and offsets) and
stepped over as the batch reader does it (``streams.unreadable``); the offset after it is
written to the store like any folded batch's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, KafkaError
from mode import Service
from rocksdict import BlockBasedOptions, Options, Rdict, WriteBatch

from chatguard.settings import Settings
from models.campaigns import Member, carried_over, due, observe_all, valid_bands
from streams import kafka_options, metrics, topics, unreadable
from streams.campaigns import EVENTS_PER_RECORD, CampaignHolder, campaign_record
from streams.decoding import Rejected
from streams.fleet_signing import FleetSigner, internal_record
from streams.model_holder import ModelHolder
from streams.partitioning import partition_for
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage, internal_error
from streams.producers import TrackingProducer
from streams.retry import Outage
from streams.sinks import BatchSink

log = logging.getLogger(__name__)
# records folded at a time (each up to 64 events): the more, the more of a busy band's
# members share one write, and the longer the moderation batches wait (the fold yields to
# them every YIELD_EVERY bands)
FOLD_BATCH = 64
YIELD_EVERY = 256
COMMIT_EVERY_S = 1.0
STATE = b"s"  # s<window:012d><partition:05d><band> → the band's state (JSON)
NEXT = b"n"  # n<partition:05d> → the next offset of the partition to fold
STATES_KEPT = 4_096  # decoded band states kept in memory (a saturated one is ~15 KB of JSON)
STAGED_MOST = 20_000  # band states staged at most before they are written, whatever the time
WRITE_BUFFER_BYTES = 8 << 20  # RocksDB memtable, and so write-ahead log, before a flush


class BandStore:
    """Band states on this worker's disk, by window, partition and band, with the next offset
    to fold of each partition. Batches are staged in memory (:meth:`stage`) and written
    together (:meth:`flush`): the store on disk always holds states and offsets of one point."""

    def __init__(self, directory: Path, window_s: float) -> None:
        self.directory = directory
        self.window_s = window_s
        self._db: Rdict | None = None  # opened on first use
        self._kept_from = -1  # windows before this one are deleted already
        # the states last written, decoded: a campaign's bands come back batch after batch
        self._recent: dict[bytes, dict[str, Any]] = {}
        self._staged: dict[bytes, dict[str, Any]] = {}  # folded, not yet written
        self._read: dict[bytes, dict[str, Any]] = {}  # read ahead for the batch in hand
        self._staged_offsets: dict[int, int] = {}
        self._written_offsets: dict[int, int] = {}  # written, not yet taken (``take_written``)

    @property
    def db(self) -> Rdict:
        if self._db is None:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            self._db = Rdict(str(self.directory), _options())
        return self._db

    def window(self, at: float) -> int:
        return int(at // self.window_s)

    def get(self, window: int, partition: int, band: str) -> Mapping[str, Any]:
        """The band's state (not to be changed: :func:`observe_all` returns a new one)."""
        key = _state_key(window, partition, band)
        state = self._staged.get(key) or self._recent.get(key) or self._read.get(key)
        if state is not None:
            return state
        value = self.db.get(key)
        return orjson.loads(value) if value is not None else {}

    def read_ahead(self, keys: Iterable[tuple[int, int, str]]) -> None:
        """Read, in one multi-get, what :meth:`going_on` will ask of ``keys``: each band's
        state in its window and in the previous one. Most bands are new, so most reads miss,
        and one multi-get costs a fraction of a read per key (measured with the bloom filter of
        :func:`_options`, on 60,000 bands: 5.3 against 10.6 µs a new band's :meth:`going_on`).
        What is read is kept until the batch is staged."""
        wanted: list[Any] = []
        for window, partition, band in keys:
            for key in (
                _state_key(window, partition, band),
                _state_key(window - 1, partition, band),
            ):
                if key not in self._staged and key not in self._recent:
                    wanted.append(key)
        values = cast(list[Any], self.db.get(wanted)) if wanted else []
        self._read = {
            key: orjson.loads(value) if value is not None else {}
            for key, value in zip(wanted, values, strict=True)
        }

    def going_on(
        self,
        key: tuple[int, int, str],
        at: float,
        folded: Mapping[tuple[int, int, str], Mapping[str, Any]],
    ) -> Mapping[str, Any]:
        """The state to count the band's members of ``key``'s window on, the first at ``at``:
        its state in that window, or, for a band new there, its state in the previous window
        (from ``folded``, the batch's states so far, else the store) carried over
        (:func:`models.campaigns.carried_over`), so that counting slides across windows."""
        state = self.get(*key)
        if state:
            return state
        window, partition, band = key
        before = (window - 1, partition, band)
        previous = folded.get(before) or self.get(*before)
        return carried_over(previous, at, self.window_s)

    def stage(
        self, states: dict[tuple[int, int, str], dict[str, Any]], next_offsets: dict[int, int]
    ) -> None:
        """Hold a folded batch's states and next offsets until :meth:`flush`."""
        for (window, partition, band), state in states.items():
            self._staged[_state_key(window, partition, band)] = state
        self._staged_offsets.update(next_offsets)
        self._read = {}  # older than what is staged now

    @property
    def staged(self) -> int:
        return len(self._staged)

    @property
    def pending(self) -> bool:
        """Whether anything is staged, or written and not yet taken: the fold's next commit
        has work to do."""
        return bool(self._staged or self._staged_offsets or self._written_offsets)

    def take_written(self) -> dict[int, int]:
        """The next offsets written since the last call, by whichever flush wrote them."""
        written, self._written_offsets = self._written_offsets, {}
        return written

    def flush(self) -> None:
        """Write what is staged, states and next offsets in one write batch."""
        for _ in self.flushing():
            pass

    def flushing(self) -> Iterator[None]:
        """:meth:`flush`, pausing after every :data:`YIELD_EVERY` states encoded, so that a
        caller on the event loop lets moderation batches run between them (a second of a busy
        fold is thousands of states); the write itself is one write batch at the end."""
        if not self._staged and not self._staged_offsets:
            return
        batch = WriteBatch(raw_mode=True)
        for n, (key, state) in enumerate(self._staged.items(), 1):
            batch.put(key, orjson.dumps(state))
            if n % YIELD_EVERY == 0:
                yield
        for partition, offset in self._staged_offsets.items():
            batch.put(_next_key(partition), str(offset).encode())
        self.db.write(batch)
        recent = self._recent
        for key, state in self._staged.items():
            recent.pop(key, None)
            recent[key] = state  # the most recently written last
        for key in list(itertools.islice(recent, max(0, len(recent) - STATES_KEPT))):
            del recent[key]
        self._written_offsets.update(self._staged_offsets)
        self._staged = {}
        self._staged_offsets = {}

    def write(
        self, states: dict[tuple[int, int, str], dict[str, Any]], next_offsets: dict[int, int]
    ) -> None:
        """:meth:`stage` and :meth:`flush`."""
        self.stage(states, next_offsets)
        self.flush()

    def next_offset(self, partition: int) -> int | None:
        """The partition's next offset to fold, as written (staged ones are not yet)."""
        value = self.db.get(_next_key(partition))
        return int(value) if value is not None else None

    def forget(self, partition: int) -> None:
        """Drop the partition's states and its next offset (it is folded again)."""
        self.flush()
        batch = WriteBatch(raw_mode=True)
        current = self.window(time.time())
        for window in (current - 1, current):  # records' times are never later than now
            batch.delete_range(
                _state_key(window, partition, ""), _state_key(window, partition + 1, "")
            )
        batch.delete(_next_key(partition))
        self.db.write(batch)
        self._recent.clear()
        self._read = {}

    def expire(self, now: float) -> None:
        """Delete the windows before the previous one (once per window, not per batch)."""
        keep_from = self.window(now) - 1
        if keep_from <= self._kept_from:
            return
        self._kept_from = keep_from
        self.flush()
        self.db.delete_range(STATE, _state_key(keep_from, 0, ""))
        self._recent.clear()
        self._read = {}

    def databases(self) -> list[Rdict]:
        return [self.db] if self._db is not None else []

    def close(self) -> None:
        """Close without writing what is staged: the owner flushes what it committed."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _options() -> Options:
    """RocksDB options with a bloom filter: most band lookups are for keys not in the store,
    and the filter answers those without reading index blocks (measured: 1.4 against 4.4 µs
    a missing key; bands in the store cost the same). The fold rewrites a campaign's band
    states every second, so with RocksDB's 64 MB write buffer the write-ahead log held 64 MB
    (and memory as much) for 3.7 MB of live state; an 8 MB buffer is flushed and compacted
    eight times as often."""
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)
    options = Options(raw_mode=True)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_size(WRITE_BUFFER_BYTES)
    return options


def _state_key(window: int, partition: int, band: str) -> bytes:
    return b"%s%012d%05d%s" % (STATE, window, partition, band.encode())


def _window_of(key: tuple[int, int, str]) -> int:
    return key[0]


def _next_key(partition: int) -> bytes:
    return b"%s%05d" % (NEXT, partition)


def band_members(
    raw: RawMessage, signer: FleetSigner, partitions: int, max_id_chars: int, now: float
) -> list[tuple[str, Member]] | Rejected:
    """One record of ``campaign.fingerprints`` as (band key, member) pairs to count, or why it
    is not one (the topic is writable by anyone with access): every event in it must be
    well-formed, and every key it is counted under must hash to the record's partition, where
    the other members of that band are counted."""
    record = internal_record(raw, signer)
    if isinstance(record, Rejected):
        return record
    entries, at = record.get("events"), record.get("at")
    if record.get("kind") != "campaign_fingerprints" or not isinstance(entries, list):
        return Rejected("invalid_field", "not a campaign_fingerprints record")
    if len(entries) > 4 * EVENTS_PER_RECORD:  # workers write 64; 20,000 held the fold 0.8 s
        return Rejected(
            "oversize_field", f"{len(entries)} events; the limit is {4 * EVENTS_PER_RECORD}"
        )
    at = min(float(at), now) if isinstance(at, int | float) else now
    out = []
    for entry in entries:
        found = _event_members(entry, raw.partition, partitions, max_id_chars, at)
        if found is None:
            problem = f"not a fingerprinted event of partition {raw.partition}: {entry!r:.200}"
            return Rejected("invalid_field", problem)
        out.extend(found)
    return out


def _event_members(
    entry: object, partition: int, partitions: int, limit: int, at: float
) -> list[tuple[str, Member]] | None:
    if not isinstance(entry, list) or len(entry) != 8:
        return None
    event_id, account, conversation, flagged, blocked, tokens, bands, here = entry
    if not (
        isinstance(event_id, str)
        and isinstance(account, str)
        and isinstance(conversation, str)
        and isinstance(tokens, list)
        and isinstance(here, list)
        and here
        and valid_bands(bands, 16)
    ):
        return None
    if tokens and not all(isinstance(t, str) for t in tokens):
        return None
    count = len(bands)
    for i in here:
        if not (isinstance(i, int) and 0 <= i < count):
            return None
        if partition_for(bands[i].encode(), partitions) != partition:
            return None
    member = Member(
        event_id[:limit],
        account[:limit],
        conversation[:limit],
        flagged is True,
        blocked is True,
        tuple([t[:limit] for t in tokens[:16]]) if tokens else (),
        tuple(bands),
        at,
    )
    if len(here) == 1:
        return [(bands[here[0]], member)]
    return [(bands[i], member) for i in dict.fromkeys(here)]


class CampaignFold(Service):
    """Consume band records → fold each band's batch → announce due bands → write → commit."""

    def __init__(
        self,
        settings: Settings,
        model_holder: ModelHolder,
        campaign_holder: CampaignHolder,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.model_holder = model_holder
        self.campaigns = campaign_holder
        self.signer = FleetSigner.for_settings(settings)
        self._pipeline: ModerationPipeline | None = None  # sends through our producer
        self._producer: TrackingProducer | None = None
        self.group_id = f"{settings.app_id}.campaigns"
        self.topic = settings.topic(topics.CAMPAIGN_FINGERPRINTS)
        self.store = BandStore(
            settings.data_dir / f"{settings.app_id}-campaign-bands", settings.campaign_window_s
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._quiet_until: dict[int, int] = {}  # partition → first offset to announce from
        self._position: dict[int, int] = {}  # partition → next offset to fold (once staged)
        self._pending: set[TopicPartition] = set()  # assigned, paused, not yet positioned
        self._done: dict[TopicPartition, int] = {}  # next offsets written, not yet committed
        self._committed_at = time.monotonic()
        self._in_hand = asyncio.Lock()  # held while a batch is between fetch and write
        self._outage: Outage | None = None

    async def on_start(self) -> None:
        settings = self.settings
        self._producer = TrackingProducer(**kafka_options.producer(settings, "campaign-fold"))
        await self._producer.start()
        # its own producer, outside Faust's transactions: a campaign record answers no input
        # partition of Faust's, and re-announcing one is harmless
        sink = BatchSink(self._producer)
        self._pipeline = ModerationPipeline(
            settings, self.model_holder, sink, campaign_holder=self.campaigns
        )
        options = kafka_options.group_consumer(settings, self.group_id, "campaign-fold")
        self._consumer = AIOKafkaConsumer(**{**options, "max_poll_records": FOLD_BATCH})
        self._consumer.subscribe([self.topic], listener=_TakeOver(self))
        await self._consumer.start()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            async with self._in_hand:
                try:
                    await self._commit()
                except KafkaError as exc:  # the next owner goes on from the store or the group
                    log.warning("campaign fold: stopping without a final commit: %s", exc)
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        self.store.close()

    @Service.task
    async def _read(self) -> None:
        assert self._consumer is not None
        window_ms = int(self.settings.batch_window_s * 1000)
        while not self.should_stop:
            try:
                fetched = await self._consumer.getmany(timeout_ms=window_ms)
            except ConsumerStoppedError:
                return
            except unreadable.UNREADABLE as exc:
                log.error("campaign fold: a fetched batch cannot be read (%r); skipping it", exc)
                async with self._in_hand:
                    try:
                        await self._step_over_unreadable()
                    except Exception as step_exc:  # the broker went away meanwhile, or the disk
                        self._rewind()
                        await self._retry_later(step_exc)
                continue
            except KafkaError as exc:
                await self._retry_later(exc)
                continue
            if self._pending:  # a take-over that failed (the broker away): try again
                try:
                    await self.take_over_pending()
                except KafkaError as exc:
                    await self._retry_later(exc)
                    continue
            async with self._in_hand:
                if self.should_stop:
                    return
                try:
                    if fetched:
                        await self.fold(fetched)
                    if self.store.staged >= STAGED_MOST:
                        await self._persist()
                    due = time.monotonic() - self._committed_at >= COMMIT_EVERY_S
                    if (self._done or self.store.pending) and due:
                        await self._commit()
                except Exception as exc:  # Kafka away, or the disk: never the end of the fold
                    if not isinstance(exc, KafkaError):
                        log.exception("campaign fold: a batch failed, folding it again: %r", exc)
                    # nothing of the batch was staged: go on from what was folded
                    self._rewind()
                    await self._retry_later(exc)

    async def fold(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Fold one fetched batch; its outputs are delivered before its states are staged."""
        assert self._pipeline is not None
        settings, now = self.settings, time.time()
        partitions = settings.topic_partitions
        groups: dict[tuple[int, int, str], list[tuple[Member, bool, RawMessage]]] = {}
        dead: list[tuple[RawMessage, Rejected]] = []
        next_offsets: dict[int, int] = {}
        for tp, messages in fetched.items():
            # aiokafka hands out records of a new assignment before the listener positioned it;
            # only records from the partition's position on are folded (the rest come again)
            position = self._position.get(tp.partition)
            messages = [m for m in messages if position is not None and m.offset >= position]
            if not messages:
                continue
            quiet_until = self._quiet_until.get(tp.partition, -1)
            for m in messages:
                headers = tuple(m.headers or ())
                raw = RawMessage(m.topic, m.partition, m.offset, m.key, m.value, headers)
                try:
                    found = band_members(raw, self.signer, partitions, settings.max_id_chars, now)
                except Exception as exc:  # a bug for one record must not stop the fold
                    found = internal_error(exc)
                if isinstance(found, Rejected):
                    dead.append((raw, found))
                    continue
                window = self.store.window(min(m.timestamp / 1000, now))
                quiet = m.offset < quiet_until
                for band, member in found:
                    key = (window, tp.partition, band)
                    groups.setdefault(key, []).append((member, quiet, raw))
            next_offsets[tp.partition] = messages[-1].offset + 1
        states: dict[tuple[int, int, str], dict[str, Any]] = {}
        out: list[Outgoing] = []
        self.store.read_ahead(groups)
        # by window (records come nearly in window order, so this sort is nearly free): a
        # band's state in the previous window is folded before it carries over
        for n, key in enumerate(sorted(groups, key=_window_of)):
            members = groups[key]
            if n and n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            try:
                counted = [member for member, _, _ in members]
                start = self.store.going_on(key, min(m.at for m in counted), states)
                state = observe_all(start, counted, settings.campaign_window_s)
                announcement = self._announce(key[2], state, members, now)
            except Exception as exc:  # a bug for one band must not stop the others
                dead.extend((raw, internal_error(exc)) for _, _, raw in members)
                continue
            states[key] = state
            if announcement is not None:
                out.append(announcement)
        for raw, rejected in dead:
            await self._pipeline.dead_letter(raw, rejected)
        if out or dead:
            await self._pipeline.send(out)
            await self._pipeline.sink.delivered()
        self.store.stage(states, next_offsets)
        for partition, offset in next_offsets.items():  # with the states: a rewind goes on after
            self._position[partition] = offset
        self.store.expire(now)
        metrics.CAMPAIGN_FINGERPRINTS_FOLDED.inc(sum(len(v) for v in fetched.values()))

    def _announce(
        self,
        band: str,
        state: dict[str, Any],
        members: Sequence[tuple[Member, bool, RawMessage]],
        now: float,
    ) -> Outgoing | None:
        """The band's campaign record if counting ``members`` made it due (``state`` notes the
        announcement); marked but not sent if they were all folded before (quiet)."""
        settings = self.settings
        window = settings.campaign_window_s
        if not due(state, now, min_accounts=settings.campaign_accounts, window_s=window):
            return None
        announced = state.get("announced") or {}
        # a band keeps its id; a new one takes the id of a campaign this worker already knows
        # that its bands overlap, so the fleet's bands of one campaign agree
        known = self.campaigns.match(list(state.get("co", {})), now)
        campaign_id = announced.get("campaign_id") or (known.campaign_id if known else None)
        value = campaign_record(state, band, campaign_id, now)
        state["announced"] = {
            "campaign_id": value.campaign_id,
            "events": value.events,
            "harmful": value.status == "harmful",
            "member_action": value.member_action,
            "at": now,
        }
        if all(quiet for _, quiet, _ in members):
            return None
        metrics.CAMPAIGN_ANNOUNCEMENTS.inc()
        log.info(
            "announcing campaign %s (band %s, %s): %d events from %d accounts",
            value.campaign_id,
            band,
            value.status,
            value.events,
            value.accounts,
        )
        topic = settings.topic(topics.CAMPAIGNS)
        return Outgoing(topic, band.encode(), orjson.dumps(value), members[-1][2])

    async def take_over(self, partitions: Iterable[TopicPartition]) -> None:
        """Pause newly assigned partitions until each is positioned (``take_over_pending``)."""
        assert self._consumer is not None
        partitions = set(partitions)
        self._consumer.pause(*partitions)
        self._pending |= partitions
        await self.take_over_pending()

    async def take_over_pending(self) -> None:
        """Position each assigned partition not yet positioned: after what the store folded,
        or, if it folded nothing recent, from the start of the previous window after
        forgetting it; up to the group's committed offset quietly. Then read it again."""
        assert self._consumer is not None
        consumer, window_s = self._consumer, self.settings.campaign_window_s
        since = (self.store.window(time.time()) - 1) * window_s
        async with self._in_hand:  # a batch folded meanwhile is in the store first
            for tp in sorted(self._pending):
                if tp not in consumer.assignment():
                    self._pending.discard(tp)
                    continue
                # the end before the search: a record written after it is recent, so none is
                # skipped if one arrives between the two answers
                end = (await consumer.end_offsets([tp]))[tp]
                found = (await consumer.offsets_for_times({tp: int(since * 1000)}))[tp]
                recent = found.offset if found is not None else end
                committed = await consumer.committed(tp)
                start = self.store.next_offset(tp.partition)
                if start is not None and start < recent:  # what it holds is too old to go on
                    self.store.forget(tp.partition)  # (states are only written with an offset)
                if start is None or start < recent:
                    start = recent
                self._quiet_until[tp.partition] = committed or 0
                consumer.seek(tp, start)
                self._position[tp.partition] = start
                self._pending.discard(tp)
                consumer.resume(tp)
                if committed is not None and committed > start:
                    log.info(
                        "campaign fold: partition %d folds offsets %d-%d again, quietly",
                        tp.partition,
                        start,
                        committed - 1,
                    )

    async def _step_over_unreadable(self) -> None:
        """Fold what precedes a batch that cannot be decompressed, dead-letter the batch
        (partition and offsets) and write the offset after it, so the fold goes on past it
        (``streams.unreadable`` says how it is found)."""
        assert self._consumer is not None and self._pipeline is not None
        consumer = self._consumer
        assigned = sorted(consumer.assignment())
        try:
            async with asyncio.timeout(120):
                ends = await consumer.end_offsets(assigned)
                for tp in assigned:
                    start = self._position.get(tp.partition)
                    if start is None or start >= ends[tp]:
                        continue
                    good, bad = await unreadable.probe_partition(
                        consumer, tp, ends[tp], FOLD_BATCH, start=start
                    )
                    if good:
                        await self.fold({tp: good})
                    if bad is not None:
                        log.error("campaign fold: dead-lettered %s", bad.describe())
                        await self._pipeline.dead_letter(bad.source(), bad.rejected())
                        await self._pipeline.sink.delivered()
                        # after the batch, unless the first record after it was folded too
                        self._written(tp, max(bad.last + 1, self._position.get(tp.partition, 0)))
        except unreadable.INTERRUPTED as exc:
            # stopping, or a rebalance took partitions away: the next fetch starts over
            log.warning("campaign fold: stepping over an unreadable batch stopped: %r", exc)
        self._seek_positions()  # every partition goes on from what the store holds

    def _written(self, tp: TopicPartition, offset: int) -> None:
        """Record ``offset`` as the partition's next, in the store and for the next commit."""
        self.store.write({}, {tp.partition: offset})
        self._position[tp.partition] = offset
        self._take_written()

    async def _persist(self) -> None:
        """Write the staged states and offsets; their offsets may then be committed."""
        for _ in self.store.flushing():
            await asyncio.sleep(0)
        self._take_written()

    def _take_written(self) -> None:
        """The offsets the store has written are the ones to commit next."""
        for partition, offset in self.store.take_written().items():
            self._done[TopicPartition(self.topic, partition)] = offset

    def _rewind(self) -> None:
        """Go on from the next offsets folded (or, before any fold, where the partition was
        taken over): a batch that failed is folded again, never skipped."""
        self._seek_positions()
        self._done.clear()

    def _seek_positions(self) -> None:
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            start = self._position.get(tp.partition)
            if start is not None:
                self._consumer.seek(tp, start)

    async def _commit(self) -> None:
        """Write what is staged, then commit the offsets written (the store is ahead of the
        group, never behind it)."""
        assert self._consumer is not None
        await self._persist()
        self._committed_at = time.monotonic()
        held = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in self._done.items() if tp in held}
        self._done = {}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:  # the group moved on: the next owner reads the store
            log.warning("campaign fold: commit failed, the next owner goes on: %s", exc)
        except BaseException:
            for tp, offset in offsets.items():
                self._done[tp] = max(offset, self._done.get(tp, 0))
            raise
        if self._outage is not None:
            self._outage.over()
            self._outage = None

    async def _retry_later(self, exc: BaseException) -> None:
        if self._outage is None:
            self._outage = Outage("campaign fold")
        await self.sleep(self._outage.failed(exc))


class _TakeOver(ConsumerRebalanceListener):
    """Commit before partitions go; position them when they come."""

    def __init__(self, fold: CampaignFold) -> None:
        self.fold = fold

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.fold._in_hand:
            try:
                await self.fold._commit()
            except KafkaError as exc:
                log.warning("campaign fold: no commit before a rebalance: %s", exc)
            self.fold._done.clear()
            for tp in revoked:  # positioned again, from the store, if it comes back
                self.fold._position.pop(tp.partition, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            await self.fold.take_over(assigned)
        except KafkaError as exc:  # they stay paused; the read loop positions them later
            log.warning("campaign fold: could not position partitions yet: %s", exc)
