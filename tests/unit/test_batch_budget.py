"""A batch ends at its record count or its bytes, whichever comes first, and always moves on."""

from __future__ import annotations

from streams.batch_budget import BatchBudget, record_bytes


def test_short_records_fill_a_batch_by_count() -> None:
    budget = BatchBudget(records=256, max_bytes=1_048_576)
    assert budget.take([300] * 1_000) == 256
    assert budget.full


def test_long_records_end_a_batch_by_bytes() -> None:
    budget = BatchBudget(records=256, max_bytes=1_048_576)
    assert budget.take([60_000] * 256) == 17  # 17 x 60 KB fit in 1 MiB, the 18th does not
    assert budget.take([100]) == 1  # a short one still fits beside them
    assert budget.take([60_000]) == 0


def test_an_empty_batch_takes_its_first_record_however_large() -> None:
    budget = BatchBudget(records=256, max_bytes=1_000)
    assert budget.take([5_000, 10]) == 1
    assert budget.full
    assert budget.take([10]) == 0


def test_every_partition_gives_a_record_to_its_turn() -> None:
    budget = BatchBudget(records=256, max_bytes=100_000)
    shares = [budget.take([80_000] * 10, limit=25_000, at_least_one=True) for _ in range(4)]
    assert shares == [1, 1, 1, 1]  # over its share and over the budget, each turn moves on
    assert budget.take([10]) == 0  # the batch is full for what is not a turn


def test_a_share_limits_a_partition_within_the_batch() -> None:
    budget = BatchBudget(records=256, max_bytes=100_000)
    assert budget.take([10_000] * 10, limit=25_000, at_least_one=True) == 2
    assert budget.take([10_000] * 10) == 8  # the rest of the batch's bytes


def test_a_record_costs_its_key_and_value() -> None:
    assert record_bytes(b"key", b"value") == 8
    assert record_bytes(None, None) == 0
