"""How much state a worker holds in its RocksDB stores, for the ``chatguard_state_*`` gauges.

Read from RocksDB's own estimates when ``/metrics`` is scraped, never per event: a property
read costs microseconds per database, where counting keys would read the whole store.
``estimate-num-keys`` comes close once RocksDB has flushed and compacted; before that every
overwrite of a key still in the memtable counts again (Faust rewrites its offset key with each
change), so it reads high. Bytes are live data in SST files plus the memtables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rocksdict import Rdict

from streams import metrics

ENTRIES = "rocksdb.estimate-num-keys"
LIVE_BYTES = "rocksdb.estimate-live-data-size"
MEMTABLE_BYTES = "rocksdb.cur-size-all-mem-tables"


@dataclass(frozen=True)
class StoreSize:
    """Entries and bytes of one or more RocksDB databases."""

    entries: int = 0
    bytes: int = 0

    def __add__(self, other: StoreSize) -> StoreSize:
        return StoreSize(self.entries + other.entries, self.bytes + other.bytes)


def database_size(db: Rdict) -> StoreSize:
    """RocksDB's estimate of ``db``'s entries and bytes (a missing property counts 0)."""
    entries = db.property_int_value(ENTRIES) or 0
    live = db.property_int_value(LIVE_BYTES) or 0
    memtables = db.property_int_value(MEMTABLE_BYTES) or 0
    return StoreSize(entries, live + memtables) if entries else StoreSize()


def total_size(databases: Iterable[Rdict]) -> StoreSize:
    """The sum over ``databases``; an empty database adds nothing, not its memtable's arena."""
    return sum((database_size(db) for db in databases), StoreSize())


def table_databases(table: Any) -> list[Rdict]:
    """The open RocksDB of each partition (active or standby) of a Faust table with a
    ``rocksdict`` store; none for another store. ``table`` may be a windowed wrapper."""
    store = getattr(table, "table", table).data
    # faust's rocksdb Store keeps partition → database in _dbs and offers no public accessor
    databases = getattr(store, "_dbs", {})
    return [db for db in list(databases.values()) if isinstance(db, Rdict)]


def report(sizes: dict[str, StoreSize]) -> None:
    """Set the gauges of each named store."""
    for store, size in sizes.items():
        metrics.STATE_ENTRIES.labels(store=store).set(size.entries)
        metrics.STATE_BYTES.labels(store=store).set(size.bytes)
