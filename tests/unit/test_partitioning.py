"""The numpy partitioner agrees with Kafka's default partitioner (aiokafka's pure-Python murmur2,
itself a copy of Java's) on every key, whatever its length and bytes."""

from __future__ import annotations

from aiokafka.partitioner import murmur2
from hypothesis import given
from hypothesis import strategies as st

from streams.partitioning import NUMPY_FROM_KEYS, partition_for, partitions_for


def expected(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@given(st.lists(st.binary(max_size=80), max_size=40), st.integers(1, 64))
def test_every_key_lands_where_kafka_puts_it(keys: list[bytes], partitions: int) -> None:
    assert partitions_for(keys, partitions) == [expected(k, partitions) for k in keys]


@given(st.integers(0, 40), st.data(), st.integers(1, 64))
def test_many_keys_of_one_length_take_the_numpy_path_and_agree(
    length: int, data: st.DataObject, partitions: int
) -> None:
    keys = data.draw(
        st.lists(st.binary(min_size=length, max_size=length), min_size=NUMPY_FROM_KEYS, max_size=60)
    )
    assert partitions_for(keys, partitions) == [expected(k, partitions) for k in keys]


def test_known_keys_of_every_tail_length() -> None:
    keys = [b"", b"a", b"ab", b"abc", b"abcd", "账户-λ".encode(), b"\xff" * 33, b"acct-12345"]
    for partitions in (1, 3, 8, 12):
        assert partitions_for(keys, partitions) == [expected(k, partitions) for k in keys]
        assert [partition_for(k, partitions) for k in keys] == [
            expected(k, partitions) for k in keys
        ]
