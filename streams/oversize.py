"""Records larger than any reader takes are cut as aiokafka unpacks them, before anyone holds them.

A record batch decompresses to at most 64 MB (``streams.decompression``), and one fetch holds as
many batches as its compressed bytes allow. An outside probe put one 60 MB record of padding in
each 2 KB zstd batch. Every such record was refused (too large, or a signature that does not
verify), but only after aiokafka had unpacked it, and Faust's consumer unpacks every record of a
fetched partition: 60 of them on the reports topic took a worker to 3.9 GB (kept after), 50 on
the rules topic, which every worker reads whole as it starts, took a starting worker to 3.2 GB.

Nothing chatguard reads is longer than ``max_event_bytes`` or ``max_record_bytes`` (events,
table values), except a rules file (up to 64 MB, whose reader takes one record at a time), and
records without free text (reports, moderators' decisions) are far shorter
(``streams.kinds.most_bytes``): a live flood of 1 MB reports, each refused, held a worker at
1.5 GB while Faust buffered them. So
:func:`install` has aiokafka cut, as it unpacks a record, a value longer than that to one byte
over it (every reader's size check refuses it as before, and a signed record's signature no
longer verifies), a key to one byte over ``max_key_bytes`` (64 KB at the least), and drop
headers over the value limit in all, each topic at its own limit. ``serialized_value_size`` and ``serialized_key_size`` keep
the sizes the record came with. A record then costs at most about the limit, for as long as it
is held, whatever it came as.
"""

from __future__ import annotations

from typing import Any

from chatguard.settings import Settings
from streams.batch_budget import record_bytes
from streams.decompression import MAX_HEADERS

_limits = {"value": 0, "key": 0}  # 0: not installed
# topics with a limit of their own: the rules topic's is larger (a rules file, up to 64 MB,
# whose reader takes one record at a time, ``streams.rules_holder``); the reports' and
# moderators' decisions' smaller (``streams.kinds.most_bytes``)
_by_topic: dict[str, int] = {}


# a key is cut past this at the least, whatever ``max_key_bytes`` says: the input topics' check
# reads that setting, but Faust's tables key their changelogs with keys of their own (a
# windowed key is the account id and the window, longer than the id)
MIN_KEY_CUT_BYTES = 65_536


def limits_of(settings: Settings) -> tuple[int, int]:
    """The longest value and key any reader of these settings takes, but the rules topic's."""
    value = max(settings.max_event_bytes, settings.max_record_bytes)
    return value, max(settings.max_key_bytes, MIN_KEY_CUT_BYTES)


def limits_by_topic(settings: Settings) -> dict[str, int]:
    """The topics (full names) whose longest value is not :func:`limits_of`'s: the input
    topics of records without free text, the internal topics that carry reports on, and the
    rules topic."""
    from streams import kinds, topics
    from streams.rules_holder import RULES_MAX_BYTES

    value, _ = limits_of(settings)
    by_topic = {
        settings.topic(name): most
        for name, most in kinds.most_bytes_by_topic(value, settings.max_id_chars).items()
        if most < value
    }
    # a report, sent on as a worker writes it: its fields but fewer of them
    report = by_topic[settings.topic(topics.USER_REPORTS)]
    for name in (topics.REPORTS_BY_REPORTER, topics.REPORTS_RETRY):
        by_topic[settings.topic(name)] = report
    by_topic[settings.topic(topics.RULES)] = RULES_MAX_BYTES
    return by_topic


def install(settings: Settings) -> None:
    """Cut oversized records in every aiokafka consumer of this process from now on."""
    from aiokafka.consumer.fetcher import PartitionRecords

    _limits["value"], _limits["key"] = limits_of(settings)
    _by_topic.clear()
    _by_topic.update(limits_by_topic(settings))
    if getattr(PartitionRecords._consumer_record, "cuts_oversize", False):
        return
    unpack = PartitionRecords._consumer_record

    def consumer_record(self: Any, tp: Any, record: Any) -> Any:
        value_limit = _by_topic.get(tp.topic, _limits["value"])
        if not _oversized(record, value_limit):
            return unpack(self, tp, record)
        cut = _Cut(record, value_limit)
        unpacked = unpack(self, tp, cut)
        unpacked.serialized_value_size, unpacked.serialized_key_size = cut.sizes
        return unpacked

    consumer_record.cuts_oversize = True  # type: ignore[attr-defined]
    PartitionRecords._consumer_record = consumer_record


def _oversized(record: Any, value_limit: int) -> bool:
    value, key = record.value, record.key
    return (
        (value is not None and len(value) > value_limit)
        or (key is not None and len(key) > _limits["key"])
        or _header_bytes(record.headers) > value_limit
    )


def _header_bytes(headers: Any) -> int:
    """The bytes of ``headers``, or more than any limit if there are more than
    ``MAX_HEADERS`` of them (an uncompressed batch is not checked as it is decompressed)."""
    if headers and len(headers) > MAX_HEADERS:
        return 1 << 62
    return record_bytes(None, None, headers)


class _Cut:
    """``record`` with its value and key cut one byte over their limits, and its headers
    dropped if they are over the value limit; the sizes it came with stay readable."""

    def __init__(self, record: Any, value_limit: int) -> None:
        value, key = record.value, record.key
        self.offset, self.timestamp = record.offset, record.timestamp
        self.timestamp_type, self.checksum = record.timestamp_type, record.checksum
        self.value = value if value is None else bytes(value[: value_limit + 1])
        self.key = key if key is None else bytes(key[: _limits["key"] + 1])
        headers = record.headers
        self.headers = () if _header_bytes(headers) > value_limit else headers
        self.sizes = (-1 if value is None else len(value), -1 if key is None else len(key))
