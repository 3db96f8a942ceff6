"""Which partition's turn at the front of a shared fetch queue is over (``streams.partition_turns``)."""

from __future__ import annotations

import pytest

from streams.partition_turns import LONGEST_TURN_S, PartitionTurns


@pytest.mark.parametrize(
    ("batches", "over"),
    [
        ([["a"] * 3], None),  # a run shorter than a turn
        ([["a"] * 4], "a"),  # a whole turn in one batch
        ([["a"] * 2, ["a"] * 2], "a"),  # a run goes on across batches
        ([["a"] * 3, ["b"], ["a"] * 3], None),  # another partition's record ends the run
        ([["a"] * 3 + ["b"] * 4], "b"),  # only the run the batch ends with counts
        ([["a"] * 5, ["a"] * 3], None),  # the run starts over once a turn is over
        ([[]], None),  # nothing fetched
    ],
)
def test_a_partition_turn_is_over_after_a_turn_of_records_in_a_row(
    batches: list[list[str]], over: str | None
) -> None:
    turns: PartitionTurns[str] = PartitionTurns(turn=4)
    last = [turns.served((p, 100) for p in batch) for batch in batches][-1]
    assert last == over


def test_a_partition_turn_is_over_after_a_turn_of_bytes_in_a_row() -> None:
    """Long texts: a turn of 256 records of 60 KB spanned fifteen batches of 1 MiB."""
    turns: PartitionTurns[str] = PartitionTurns(turn=256, turn_bytes=1_000_000)
    assert turns.served([("a", 60_000)] * 16) is None
    assert turns.served([("a", 60_000)]) == "a"  # the 17th reaches a megabyte
    assert turns.served([("a", 60_000)] * 10 + [("b", 600_000)]) is None  # b's run starts
    assert turns.served([("b", 600_000)]) == "b"


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_that_was_away_long_keeps_the_front_as_long() -> None:
    """A refetch that takes half a second (a compressed batch of a million records read whole
    again) is paid once a turn: at 256 records a turn the partition drained at a tenth of its
    speed. Its next turn lasts as long as it was away, so it keeps at least half of the time."""
    clock = Clock()
    turns: PartitionTurns[str] = PartitionTurns(turn=4, clock=clock)
    assert turns.served([("a", 1)] * 4) == "a"  # a first turn: a turn of records
    clock.now += 0.5  # the refetch
    assert turns.served([("a", 1)] * 4) is None  # a turn of records, but in no time
    clock.now += 0.3
    assert turns.served([("a", 1)] * 4) is None
    clock.now += 0.2  # as long at the front as it was away
    assert turns.served([("a", 1)]) == "a"


def test_a_partition_whose_refetch_is_quick_goes_back_after_a_turn_of_records() -> None:
    clock = Clock()
    turns: PartitionTurns[str] = PartitionTurns(turn=4, clock=clock)
    assert turns.served([("a", 1)] * 4) == "a"
    clock.now += 0.01
    assert turns.served([("b", 1)] * 2) is None  # the others' records, then a's again
    clock.now += 0.01
    assert turns.served([("a", 1)] * 3) is None
    clock.now += 0.03  # longer than it was away (0.02 s), and a turn of records
    assert turns.served([("a", 1)]) == "a"


def test_a_turn_is_stretched_to_a_second_at_most() -> None:
    """What the other partitions may wait behind one whose refetch is slow, or that was away
    a long time (revoked and assigned again)."""
    clock = Clock()
    turns: PartitionTurns[str] = PartitionTurns(turn=4, clock=clock)
    assert turns.served([("a", 1)] * 4) == "a"
    clock.now += 3_600
    assert turns.served([("a", 1)] * 4) is None
    clock.now += LONGEST_TURN_S
    assert turns.served([("a", 1)]) == "a"
