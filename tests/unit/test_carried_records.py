"""Records left out of a batch wait for the next one in order (``streams.carried_records``)."""

from __future__ import annotations

from streams.batch_budget import BatchBudget
from streams.carried_records import CarriedRecords

Record = tuple[int, int]  # an offset and a size


def _carried() -> CarriedRecords[str, Record]:
    return CarriedRecords(offset=lambda r: r[0], size=lambda r: r[1])


def test_carried_records_come_out_in_order_as_budgets_allow() -> None:
    carried = _carried()
    carried.carry("p0", [(10, 600), (11, 600), (12, 10)])
    assert carried.holds("p0") and bool(carried)
    assert carried.take("p0", BatchBudget(256, 1_000)) == [(10, 600)]
    # a partition's share: at least one, even over it
    assert carried.take("p0", BatchBudget(256, 1_000), limit=100, at_least_one=True) == [(11, 600)]
    assert carried.take("p0", BatchBudget(256, 1_000)) == [(12, 10)]
    assert not carried.holds("p0") and not carried
    assert carried.take("p0", BatchBudget(256, 1_000)) == []


def test_a_full_batch_takes_nothing_and_the_records_stay() -> None:
    carried = _carried()
    carried.carry("p0", [(3, 10)])
    budget = BatchBudget(1, 1_000)
    budget.take([5])
    assert carried.take("p0", budget) == []
    assert carried.partitions() == ["p0"]


def test_dropping_says_where_each_partition_must_read_from_again() -> None:
    """The client's position is past carried records: a reader that keeps the partition seeks
    back to the first one dropped, or they are lost."""
    carried = _carried()
    carried.carry("p0", [(10, 1), (11, 1)])
    carried.carry("p1", [(4, 1)])
    carried.carry("p2", [])  # nothing left out: nothing held
    assert carried.partitions() == ["p0", "p1"]
    assert carried.take("p0", BatchBudget(1, 1_000)) == [(10, 1)]
    assert carried.drop(["p0", "p3"]) == {"p0": 11}
    assert carried.drop() == {"p1": 4}
    assert not carried


def test_a_partitions_share_of_a_batch_caps_what_it_takes() -> None:
    """Carried records of one partition do not fill a batch the others have a share of."""
    carried = _carried()
    carried.carry("p0", [(i, 10) for i in range(300)])
    taken = carried.take("p0", BatchBudget(256, 1_000_000), 64, limit=250_000, at_least_one=True)
    assert [offset for offset, _ in taken] == list(range(64))


def test_records_put_back_come_out_first_in_their_order() -> None:
    """A batch that failed while being fetched returns what it took."""
    carried = _carried()
    carried.carry("p0", [(12, 1)])
    carried.put_back("p0", [(10, 1), (11, 1)])
    carried.put_back("p1", [])
    assert carried.partitions() == ["p0"]
    assert carried.take("p0", BatchBudget(256, 1_000)) == [(10, 1), (11, 1), (12, 1)]
