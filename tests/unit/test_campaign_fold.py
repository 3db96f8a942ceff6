"""The campaign fold's own store and record check: band states by window and partition, written
with each partition's next offset, forgotten per partition, expired per window; and forged
band records refused."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from models.campaigns import Member
from streams import campaign_fold
from streams.campaign_fold import YIELD_EVERY, BandStore, band_members
from streams.campaigns import EVENTS_PER_RECORD
from streams.decoding import Rejected
from streams.fleet_signing import HEADER, FleetSigner, mac, mac_key
from streams.partitioning import partition_for
from streams.pipeline import Headers, RawMessage

WINDOW = 3_600.0
BAND = "0123456789abcdef"


def test_states_and_next_offsets_are_written_together_and_read_back(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "bands", WINDOW)
    window = store.window(time.time())
    assert store.get(window, 3, BAND) == {} and store.next_offset(3) is None
    store.write({(window, 3, BAND): {"events": 2}}, {3: 41})
    assert store.get(window, 3, BAND) == {"events": 2}
    assert store.get(window, 4, BAND) == {} and store.get(window - 1, 3, BAND) == {}
    assert store.next_offset(3) == 41
    store.close()
    reopened = BandStore(tmp_path / "bands", WINDOW)  # a restarted worker with its data dir
    assert reopened.get(window, 3, BAND) == {"events": 2} and reopened.next_offset(3) == 41


def test_staged_states_are_read_at_once_and_reach_the_disk_with_their_offsets(
    tmp_path: Path,
) -> None:
    store = BandStore(tmp_path / "bands", WINDOW)
    window = store.window(time.time())
    store.write({(window, 3, BAND): {"events": 1}}, {3: 10})
    store.stage({(window, 3, BAND): {"events": 2}}, {3: 20})
    assert store.get(window, 3, BAND) == {"events": 2} and store.staged == 1
    assert store.next_offset(3) == 10  # what a restart would go on from
    store.close()  # a crash: what was only staged is folded again from offset 10
    reopened = BandStore(tmp_path / "bands", WINDOW)
    assert reopened.get(window, 3, BAND) == {"events": 1} and reopened.next_offset(3) == 10
    reopened.stage({(window, 3, BAND): {"events": 2}}, {3: 20})
    reopened.flush()
    assert reopened.staged == 0
    reopened.close()
    again = BandStore(tmp_path / "bands", WINDOW)
    assert again.get(window, 3, BAND) == {"events": 2} and again.next_offset(3) == 20


def test_a_long_flush_pauses_between_chunks_and_writes_once_at_the_end(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "bands", WINDOW)
    window = store.window(time.time())
    bands = [f"{i:016x}" for i in range(YIELD_EVERY * 2 + 1)]
    store.stage({(window, 0, band): {"events": 1} for band in bands}, {0: 7})
    flushing = store.flushing()
    pauses = 0
    for _ in flushing:
        pauses += 1
        assert store.next_offset(0) is None  # nothing written while it pauses
    assert pauses == 2 and store.next_offset(0) == 7 and store.staged == 0
    store.close()
    reopened = BandStore(tmp_path / "bands", WINDOW)
    assert all(reopened.get(window, 0, band) == {"events": 1} for band in bands)


def test_forgetting_a_partition_leaves_the_others(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "bands", WINDOW)
    window = store.window(time.time())
    states = {(w, p, BAND): {"events": p} for w in (window - 1, window) for p in (2, 3, 4)}
    store.write(states, {2: 5, 3: 6, 4: 7})
    store.forget(3)
    assert store.next_offset(3) is None and store.next_offset(2) == 5
    for w in (window - 1, window):
        assert store.get(w, 3, BAND) == {}
        assert store.get(w, 2, BAND) == {"events": 2} and store.get(w, 4, BAND) == {"events": 4}


def test_windows_before_the_previous_one_expire(tmp_path: Path) -> None:
    store = BandStore(tmp_path / "bands", WINDOW)
    now = time.time()
    window = store.window(now)
    store.write({(w, 0, BAND): {"w": w} for w in range(window - 3, window + 1)}, {0: 9})
    store.expire(now)
    assert [store.get(w, 0, BAND) for w in range(window - 3, window + 1)] == [
        {},
        {},
        {"w": window - 1},
        {"w": window},
    ]
    assert store.next_offset(0) == 9


def test_a_band_new_in_a_window_goes_on_from_its_state_in_the_previous_one(
    tmp_path: Path,
) -> None:
    store = BandStore(tmp_path / "bands", WINDOW)
    now = time.time()
    window = store.window(now)
    earlier = {"events": 19, "last_seen": now - 60}
    store.write({(window - 1, 3, BAND): earlier}, {3: 5})
    assert store.going_on((window, 3, BAND), now, {}) == earlier
    # the batch's own state of the previous window comes before the store's
    folded = {(window - 1, 3, BAND): {"events": 21, "last_seen": now - 30}}
    assert store.going_on((window, 3, BAND), now, folded)["events"] == 21
    # a state in the window itself is the one to go on from
    store.write({(window, 3, BAND): {"events": 2, "last_seen": now}}, {3: 6})
    assert store.going_on((window, 3, BAND), now, folded)["events"] == 2
    # other bands and partitions carry nothing; nor does a state a whole window old
    assert store.going_on((window, 4, BAND), now, {}) == {}
    assert store.going_on((window + 1, 3, BAND), now + WINDOW + 1, {}) == {}


def test_states_read_ahead_are_what_the_store_holds_until_the_batch_is_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    earlier = {"events": 19, "last_seen": now - 60}
    store = BandStore(tmp_path / "bands", WINDOW)
    window = store.window(now)
    store.write({(window - 1, 3, BAND): earlier}, {3: 5})
    store.close()
    store = BandStore(tmp_path / "bands", WINDOW)  # nothing of it in memory: read from disk
    keys = [(window, 3, BAND), (window, 4, BAND)]
    store.read_ahead(keys)
    assert [store.going_on(key, now, {}) for key in keys] == [earlier, {}]
    # a state staged and written after the read is the one found, even once it is no longer
    # kept in memory
    monkeypatch.setattr(campaign_fold, "STATES_KEPT", 0)
    store.write({(window, 4, BAND): {"events": 2, "last_seen": now}}, {4: 1})
    assert store.going_on((window, 4, BAND), now, {})["events"] == 2


PARTITIONS = 8


def _here(band: str) -> int:
    return partition_for(band.encode(), PARTITIONS)


OTHER = next(f"{i:016x}" for i in range(1, 10_000) if _here(f"{i:016x}") != _here(BAND))


def _entry(**fields: object) -> list[object]:
    entry: dict[str, object] = {
        "event_id": "e1",
        "account": "a" * 5_000,
        "conversation": "c1",
        "flagged": True,
        "blocked": False,
        "contacts": ["wx:a8k9"],
        "bands": [BAND, OTHER],
        "here": [0],
        **fields,
    }
    return list(entry.values())


def _record(*entries: list[object], **fields: object) -> bytes:
    record = {"kind": "campaign_fingerprints", "events": list(entries), "at": 1e12, **fields}
    return orjson.dumps(record)


def _raw(value: bytes, headers: Headers = (), partition: int | None = None) -> RawMessage:
    where = _here(BAND) if partition is None else partition
    return RawMessage("p.campaign.fingerprints", where, 0, BAND.encode(), value, headers)


def _members(
    raw: RawMessage, signer: FleetSigner | None = None
) -> list[tuple[str, Member]] | Rejected:
    return band_members(raw, signer or FleetSigner(None, ()), PARTITIONS, 256, now=1_000.0)


def test_a_record_is_the_members_to_count_under_its_partitions_bands() -> None:
    found = _members(_raw(_record(_entry(), _entry(event_id="e2", account="b"))))
    assert not isinstance(found, Rejected)
    assert [(band, m.event_id) for band, m in found] == [(BAND, "e1"), (BAND, "e2")]
    member = found[0][1]
    assert member.bands == (BAND, OTHER)
    # ids cut to the limit; a time in the future counted as now
    assert len(member.account) == 256 and member.at == 1_000.0 and member.flagged


@pytest.mark.parametrize(
    "value",
    [
        _record(_entry(here=[1])),  # a band key of another partition
        _record(_entry(here=[2])),  # no such band key
        _record(_entry(here=[])),
        _record(_entry(bands=["zz"], here=[0])),
        _record(_entry(bands=[BAND] * 17)),
        _record(_entry(contacts=[1])),
        _record(_entry(account=None)),
        _record(_entry(), [1, 2]),  # one bad event refuses the record
        _record(_entry(), kind="campaign_fingerprint"),
        _record(_entry(), events={}),
        b"[1, 2]",
        b"\xff not json",
    ],
)
def test_a_forged_record_is_refused(value: bytes) -> None:
    assert isinstance(_members(_raw(value)), Rejected)


def test_a_record_of_more_events_than_a_worker_writes_is_refused_before_it_is_read() -> None:
    """Workers write 64 events a record; a forged one of 20,000 well-formed entries held the
    fold 0.8 s, without a yield, to read and count."""
    most = 4 * EVENTS_PER_RECORD
    fine = _members(_raw(_record(*[_entry(event_id=f"e{i}") for i in range(most)])))
    assert not isinstance(fine, Rejected) and len(fine) == most
    over = _members(_raw(_record(*[_entry(event_id=f"e{i}") for i in range(most + 1)])))
    assert isinstance(over, Rejected) and over.kind == "oversize_field"


def test_with_a_fleet_key_only_a_signed_record_counts() -> None:
    signer = FleetSigner(b"fleet-secret", ["p.campaign.fingerprints"])
    value = _record(_entry())
    unsigned = _members(_raw(value), signer)
    assert isinstance(unsigned, Rejected) and unsigned.kind == "unsigned"
    signature = mac(mac_key(b"fleet-secret"), "p.campaign.fingerprints", BAND.encode(), value)
    assert not isinstance(_members(_raw(value, headers=((HEADER, signature),)), signer), Rejected)


def test_rewriting_band_states_keeps_the_write_ahead_log_small(tmp_path: Path) -> None:
    """The fold rewrites the same band states every second. With RocksDB's default 64 MB write
    buffer the store's write-ahead log reached 64 MB on disk for 3.7 MB of live state (and
    helped fill a data disk); it is flushed at ``WRITE_BUFFER_BYTES`` now."""
    store = BandStore(tmp_path / "bands", 3_600.0)
    value = b"x" * 4_096
    for round_ in range(120):  # 120 rewrites of 100 states: 48 MB written, 400 KB live
        for band in range(100):
            store.db.put(b"s%05d" % band, value + b"%d" % round_)
    logs = sum(path.stat().st_size for path in (tmp_path / "bands").glob("*.log"))
    assert logs <= 2 * campaign_fold.WRITE_BUFFER_BYTES, f"{logs:,} bytes of write-ahead log"
    store.close()
