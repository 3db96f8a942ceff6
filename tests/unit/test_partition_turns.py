"""Which partition's turn at the front of a shared fetch queue is over (``streams.partition_turns``)."""

from __future__ import annotations

import pytest

from streams.partition_turns import PartitionTurns


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
