"""A batch's table states: written once per slot, and never one too large for its changelog."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams import table_values
from streams.batch_writes import BatchWrites
from streams.table_values import MAX_STATE_BYTES, StateTooLarge


def test_states_held_with_growth_bounds_are_refused_once_over_the_limit() -> None:
    """Each state 4 KB larger than the one before, held with a true bound of what it added:
    the first over the limit is refused and the slot keeps the last that fitted, as when every
    state was measured."""
    table: dict[str, Any] = {}
    writes = BatchWrites(table, "test")
    held = None
    for i in range(200):
        value = {"ids": ["x" * 4_000] * i}
        try:
            writes.hold("slot", "key", value, None, None if held is None else 4_100)
        except StateTooLarge:
            break
        held = value
    else:
        pytest.fail("no state was refused")
    assert len(orjson.dumps(value)) > MAX_STATE_BYTES >= len(orjson.dumps(held))
    writes.write(lambda _event: None)
    assert table == {"key": held}


def test_a_bound_spares_measuring_until_it_could_reach_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small signals on an 80 KB state: it is measured when first held and again only when
    the bounds added since could take it over the limit, not once a signal."""
    measured: list[int] = []
    real = table_values.checked_size

    def counting(name: str, key: str, value: Any) -> int:
        size = real(name, key, value)
        measured.append(size)
        return size

    monkeypatch.setattr(table_values, "checked_size", counting)
    writes = BatchWrites({}, "test")
    value = {"ids": ["y" * 80] * 1_000}
    for _ in range(1_000):
        writes.hold("slot", "key", value, None, 1_000)
    assert 1 < len(measured) < 10
    writes.hold("other", "key2", value, None, 1_000)  # a slot not held before: measured
    assert len(measured) >= 3 and measured[-1] == len(orjson.dumps(value))
