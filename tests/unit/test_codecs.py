"""The client decodes every compression codec Kafka producers use (its libraries are installed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import codec

PAYLOAD = "举报 spam, 微信 +86 138 0000 0000 ".encode() * 2_000


@pytest.mark.parametrize(
    ("name", "available", "encode", "decode"),
    [
        ("gzip", codec.has_gzip, codec.gzip_encode, codec.gzip_decode),
        ("snappy", codec.has_snappy, codec.snappy_encode, codec.snappy_decode),
        ("lz4", codec.has_lz4, codec.lz4_encode, codec.lz4_decode),
        ("zstd", codec.has_zstd, codec.zstd_encode, codec.zstd_decode),
    ],
)
def test_every_kafka_codec_round_trips(
    name: str,
    available: Callable[[], bool],
    encode: Callable[[bytes], bytes],
    decode: Callable[[bytes], bytes],
) -> None:
    assert available(), (
        f"aiokafka has no library for {name}: records compressed with it cannot be read"
    )
    compressed = encode(PAYLOAD)
    assert len(compressed) < len(PAYLOAD)
    assert decode(compressed) == PAYLOAD
