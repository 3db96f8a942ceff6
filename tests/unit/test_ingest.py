"""The ingest path setting and the batch sink's partitioning (no broker needed)."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner

from chatguard.settings import Settings, SettingsError
from streams.partitioning import partition_for


@pytest.mark.parametrize(
    ("env", "path"),
    [
        ({}, "batch"),
        ({"CHATGUARD_PROCESSING_GUARANTEE": "exactly_once"}, "faust"),
        ({"CHATGUARD_INGEST": "faust"}, "faust"),
        ({"CHATGUARD_INGEST": "batch"}, "batch"),
        ({"CHATGUARD_INGEST": "rdkafka"}, "rdkafka"),
    ],
)
def test_ingest_resolves_to_batch_unless_exactly_once_or_asked(
    env: dict[str, str], path: str
) -> None:
    assert Settings.from_env(env).ingest_path == path


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_exactly_once_refuses_the_batch_readers(ingest: str) -> None:
    env = {"CHATGUARD_PROCESSING_GUARANTEE": "exactly_once", "CHATGUARD_INGEST": ingest}
    with pytest.raises(SettingsError, match="CHATGUARD_INGEST=faust"):
        Settings.from_env(env)


def test_unknown_ingest_is_refused() -> None:
    with pytest.raises(SettingsError, match="auto, batch, rdkafka or faust"):
        Settings.from_env({"CHATGUARD_INGEST": "fast"})


def test_keyed_records_land_where_kafkas_default_partitioner_puts_them() -> None:
    """Decisions keyed by account must share a partition with any other producer's records for
    that account, or per-account consumers downstream would see them split."""
    rng = random.Random(5)
    keys = [f"acct-{rng.randrange(10**9)}".encode() for _ in range(500)]
    keys += ["用户-张三".encode(), b"", b"\x00\xff" * 9]
    for partitions in (1, 3, 8, 12):
        expected = [DefaultPartitioner()(k, list(range(partitions)), []) for k in keys]
        assert [partition_for(k, partitions) for k in keys] == expected
