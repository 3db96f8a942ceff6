"""Table states that one batch of records changes, written once per key when the batch is done.

Faust sends every write of a table to the table's changelog. The strike signals of an account
that is blocked again and again (a spammer) arrive close together, and each one rewrote the
account's whole state: up to about 80 KB, its last thousand signal ids and strike times. The
strikes changelog grew by about 100 bytes for each byte of strikes read (395 MB in 35 s at
3,000 events/s in the stream benchmark, whose abusive samples come from twelve accounts), and
enforcement took 29% of the worker's main process, as much as reading and deciding the events
did. Held here, a batch reads a key's state once, changes it in memory record by record, and
writes it once at the end: the same states and the same actions, one changelog record per key
and batch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from streams import table_values


class BatchWrites:
    """The states a batch changed in one table, by slot (a key, or a key and its window)."""

    def __init__(self, table: Any, name: str) -> None:
        self._table = table
        self._name = name
        self._held: dict[Hashable, tuple[str, Any, Any]] = {}
        # per slot held: at least the size in bytes of its state as JSON (``hold``)
        self._size_bounds: dict[Hashable, int] = {}

    def get(self, slot: Hashable) -> Any | None:
        """The state this batch left in ``slot``, or None if it has not changed it (read the
        table then)."""
        held = self._held.get(slot)
        return None if held is None else held[1]

    def hold(
        self, slot: Hashable, key: str, value: Any, event: Any, grown_by: int | None = None
    ) -> None:
        """Keep ``value`` as ``key``'s state in ``slot``, to be written as ``event`` (the
        record that changed it last: the table writes to its window and its partition).
        :class:`~streams.table_values.StateTooLarge` if it could not be written; the slot then
        keeps what it had.

        ``grown_by``: at most how many bytes of JSON ``value`` has more than the state this
        batch held in ``slot`` before it, if it was made from that one. Encoding a spammer's
        70 KB state to measure it cost about 60 µs a strike, half of what rebuilding it costs
        (``benchmarks/strike_cost.py``); with a bound, the state is measured again only when
        the bounds added since it last was could take it over the limit."""
        bound = self._size_bounds.get(slot)
        if grown_by is None or bound is None or bound + grown_by > table_values.MAX_STATE_BYTES:
            bound = table_values.checked_size(self._name, key, value)
        else:
            bound += grown_by
        self._held[slot] = (key, value, event)
        self._size_bounds[slot] = bound

    def write(self, handling: Callable[[Any], None]) -> None:
        """Write every held state, each with its event made current by ``handling``."""
        held, self._held = self._held, {}
        self._size_bounds = {}
        for key, value, event in held.values():
            handling(event)
            self._table[key] = value
