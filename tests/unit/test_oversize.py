"""Records longer than any reader takes are cut as aiokafka unpacks them (``streams.oversize``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.structs import TopicPartition

from chatguard.settings import Settings
from streams import oversize
from streams.rules_holder import RULES_MAX_BYTES

SETTINGS = Settings.from_env({})
VALUE_LIMIT, KEY_LIMIT = oversize.limits_of(SETTINGS)


def _unpack(
    key: bytes | None,
    value: bytes | None,
    headers: tuple[tuple[str, bytes], ...] = (),
    topic: str = "chat.messages",
) -> Any:
    """What aiokafka's fetcher makes of a record of ``topic`` as it unpacks it."""
    oversize.install(SETTINGS)
    partition = PartitionRecords.__new__(PartitionRecords)
    partition._key_deserializer = partition._value_deserializer = None
    record = SimpleNamespace(
        offset=7,
        timestamp=1,
        timestamp_type=0,
        checksum=None,
        key=key,
        value=value,
        headers=headers,
    )
    return partition._consumer_record(TopicPartition(SETTINGS.topic(topic), 0), record)


def test_a_value_over_every_readers_limit_is_cut_one_byte_over_it() -> None:
    """An outside probe's 60 MB records were each held whole until refused: 60 of them took a
    worker to 3.9 GB. Cut one byte over the limit, every reader still refuses them as too large."""
    unpacked = _unpack(b"k", b" " * 60_000_000)
    assert len(unpacked.value) == VALUE_LIMIT + 1
    assert unpacked.serialized_value_size == 60_000_000
    assert unpacked.key == b"k" and unpacked.offset == 7


def test_a_key_over_its_limit_is_cut_and_huge_headers_are_dropped() -> None:
    unpacked = _unpack(b"k" * 5_000_000, b"{}", (("pad", b"x" * (VALUE_LIMIT + 1)),))
    assert len(unpacked.key) == KEY_LIMIT + 1
    assert unpacked.serialized_key_size == 5_000_000
    assert unpacked.headers == () and unpacked.value == b"{}"


def test_records_within_the_limits_are_untouched() -> None:
    headers = (("trace", b"abc"),)
    value = b"x" * VALUE_LIMIT
    unpacked = _unpack(b"k" * KEY_LIMIT, value, headers)
    assert unpacked.value is value and unpacked.headers == headers
    assert _unpack(None, None).value is None


def test_a_rules_file_is_cut_only_over_the_rules_topics_own_limit() -> None:
    """A rules file of 100,000 terms is 2.6 MB, and the rules topic takes up to 64 MB: cut at
    the other topics' limit, it no longer parsed and the fleet served no rules."""
    rules = b"x" * 2_600_000
    assert _unpack(b"k", rules, topic="moderation.rules").value is rules
    unpacked = _unpack(b"k", b" " * (RULES_MAX_BYTES + 10), topic="moderation.rules")
    assert len(unpacked.value) == RULES_MAX_BYTES + 1
    assert len(_unpack(b"k", rules, topic="moderator.labels").value) == VALUE_LIMIT + 1


def test_reports_and_moderators_decisions_are_cut_at_the_size_their_ids_allow() -> None:
    """A report has no free text: 1 MB reports of padding, each refused, held a worker at
    1.5 GB while Faust buffered them. Cut at 64 bytes per id character (16 KB), a report
    with every id at its longest still passes whole."""
    limit = 64 * SETTINGS.max_id_chars
    for topic in ("user.reports", "moderator.decisions", "reports.retry", "reports.by_reporter"):
        assert len(_unpack(b"k", b" " * 1_000_000, topic=topic).value) == limit + 1, topic
    longest = b"x" * limit
    assert _unpack(b"k", longest, topic="user.reports").value is longest
    # a label carries a message's text: the general limit
    assert len(_unpack(b"k", b" " * 1_000_000, topic="moderator.labels").value) == 1_000_000


def test_a_small_key_limit_does_not_cut_the_keys_of_fausts_tables() -> None:
    """``max_key_bytes`` is the input topics' check; a table's changelog key (an account id and
    its window) is longer than the id, so keys are cut past 64 KB at the least."""
    small = Settings.from_env({"CHATGUARD_MAX_KEY_BYTES": "64"})
    assert oversize.limits_of(small)[1] == oversize.MIN_KEY_CUT_BYTES
    key = b'["' + b"a" * 256 + b'", [1700000000.0, 1700086400.0]]'
    try:
        oversize.install(small)
        partition = PartitionRecords.__new__(PartitionRecords)
        partition._key_deserializer = partition._value_deserializer = None
        record = SimpleNamespace(
            offset=1, timestamp=1, timestamp_type=0, checksum=None, key=key, value=b"{}", headers=()
        )
        assert partition._consumer_record(TopicPartition("t", 0), record).key is key
    finally:
        oversize.install(SETTINGS)


def test_more_headers_than_any_producer_sets_are_dropped_even_if_they_are_empty() -> None:
    """Empty headers have no bytes to count, but each is an object once parsed."""
    from streams.decompression import MAX_HEADERS

    unpacked = _unpack(b"k", b"{}", (("", b""),) * (MAX_HEADERS + 1))
    assert unpacked.headers == () and unpacked.value == b"{}"
    kept = (("", b""),) * MAX_HEADERS
    assert _unpack(b"k", b"{}", kept).headers == kept
