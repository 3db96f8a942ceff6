"""Record batches decompress to at most :func:`limit` bytes (64 MB unless
``CHATGUARD_MAX_DECOMPRESSED_MB`` says otherwise), or are unreadable.

The broker checks its size limits against a batch as it came, compressed, and zstd turns 100 MB
of spaces into about 3 KB. aiokafka decompresses a fetched batch whole, with no limit: one 900 MB
record of 28 KB on the wire took a worker 1.45 GB, and under a 3 GB memory cap a 990 MB one made
the batch reader raise ``MemoryError``, on every restart. :func:`install` puts decoders that stop
at the bound in place of aiokafka's (in its Python and its compiled record modules, which each
bind their own names); past it they raise :class:`DecompressedTooLarge`, which every reader treats
as a batch it cannot read (``streams.unreadable``): a dead letter naming the offsets, and the
partition goes on. Each codec writes into a buffer of a fixed size and stops where it is full, so
a bomb costs the bound, not its size. A record batch whose records carry more than
:data:`MAX_HEADERS` headers each is unreadable the same way (:func:`check_headers`): aiokafka
parses a record's headers all at once, 32 bytes of Python objects for each byte of them.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any

import cramjam

# a batch holds at most what a producer put in one request (1 MB by default, compressed); text
# and JSON compress 3-10 times, so a legitimate batch stays well under this. A platform whose
# producers send larger requests raises it (``Settings.max_decompressed_mb``, :func:`set_limit`)
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
_limit = MAX_DECOMPRESSED_BYTES
# the first buffer tried, as a multiple of the compressed size (text and JSON fit), then one of
# the bound: buffers in between (4 MB, 32 MB) come from the heap, which glibc keeps once freed,
# and a worker fed bombs grew 70 MB with each
FIRST_RATIO = 16
MIN_BUFFER_BYTES = 64 * 1024

# the Faust consumer's thread and the event loop's readers decompress side by side: one at a
# time, a bomb costs one buffer of the bound, not one per thread
_ONE_AT_A_TIME = threading.Lock()
_XERIAL_MAGIC = b"\x82SNAPPY\x00"  # the Java client's framed snappy (aiokafka's check, shorter)


class DecompressedTooLarge(Exception):
    """A record batch decompresses to more than :func:`limit` bytes."""


def limit() -> int:
    """The most bytes a record batch may decompress to in this process."""
    return _limit


def set_limit(size: int) -> None:
    """Let batches decompress to ``size`` bytes (at least 1 MB) from now on, in every reader."""
    global _limit
    if size < 1024 * 1024:
        msg = f"a decompression limit of {size} bytes: use at least 1 MB"
        raise ValueError(msg)
    _limit = size


def _too_large(codec: str) -> DecompressedTooLarge:
    msg = f"a {codec} batch that decompresses to more than {_limit // (1024 * 1024)} MB"
    return DecompressedTooLarge(msg)


def _into(codec: str, decompress_into: Callable[[bytes, bytearray], int]) -> Callable[[Any], bytes]:
    """A decoder for ``codec`` that writes into a buffer of ``FIRST_RATIO`` times the input,
    then, if the output did not fit (cramjam stops where the buffer is full), one of the bound."""

    def decode(payload: Any) -> bytes:
        data = bytes(payload)
        bound = _limit
        first = min(max(MIN_BUFFER_BYTES, FIRST_RATIO * len(data)), bound)
        with _ONE_AT_A_TIME:
            for size in dict.fromkeys((first, bound)):
                out = bytearray(size)
                try:
                    written = decompress_into(data, out)
                except cramjam.DecompressionError as exc:
                    if "failed to write whole buffer" not in str(exc):
                        raise
                    del out  # before the next buffer: one at a time
                    continue
                return bytes(memoryview(out)[:written])
        raise _too_large(codec)

    return decode


def gzip_decode(payload: Any) -> bytes:
    """Every gzip member of ``payload``, at most :func:`limit` bytes in all."""
    data = bytes(payload)
    bound = _limit
    parts: list[bytes] = []
    total = 0
    while data:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        part = member.decompress(data, bound - total + 1)
        total += len(part)
        if total > bound or member.unconsumed_tail:
            raise _too_large("gzip")
        if not member.eof:
            msg = "a gzip batch that ends before its last member does"
            raise EOFError(msg)
        parts.append(part)
        data = member.unused_data
    return b"".join(parts)


def snappy_decode(payload: Any) -> bytes:
    """Raw snappy, or the Java client's framed blocks; each block's length is in its header, so
    the total is known before a byte is decompressed."""
    data = bytes(payload)
    if not data.startswith(_XERIAL_MAGIC) or len(data) < 16:
        blocks = [data]
    else:
        blocks, cursor = [], 16
        while cursor < len(data):
            (length,) = struct.unpack_from("!i", data, cursor)
            blocks.append(data[cursor + 4 : cursor + 4 + length])
            cursor += 4 + length
    total = sum(cramjam.snappy.decompress_raw_len(block) for block in blocks)
    if total > _limit:
        raise _too_large("snappy")
    return b"".join(bytes(cramjam.snappy.decompress_raw(block)) for block in blocks)


zstd_decode = _into("zstd", cramjam.zstd.decompress_into)
lz4_decode = _into("lz4", cramjam.lz4.decompress_into)

DECODERS: dict[str, Callable[[Any], bytes]] = {
    "gzip_decode": gzip_decode,
    "snappy_decode": snappy_decode,
    "lz4_decode": lz4_decode,
    "zstd_decode": zstd_decode,
}

# headers one record may carry. An empty header is 2 bytes of a batch and about 64 bytes once
# aiokafka has parsed it, all of a record's at once: 64 MB of zstd-compressed empty headers (a
# few KB on the wire) were 32 million tuples, 2 GB, before any reader could look at them.
# Producers set a few (tracing, schema ids); chatguard reads one, the fleet's signature
MAX_HEADERS = 1_000


class TooManyHeaders(DecompressedTooLarge):
    """A record of a batch carries more than :data:`MAX_HEADERS` headers."""


def check_headers(records: bytes, most: int = MAX_HEADERS) -> None:
    """Raise :class:`TooManyHeaders` if a record of ``records`` (a v2 batch's records, as
    decompressed) carries more than ``most`` headers. Reads each record's lengths, not its
    bytes: one varint a record, and a few for a record long enough to hold that many (an
    empty header is 2 bytes). A batch it cannot walk is left to aiokafka's own checks."""
    end, cursor = len(records), 0
    try:
        while cursor < end:
            length, cursor = _varint(records, cursor)
            start = cursor
            if 0 < length < 2 * most:
                cursor = start + length
                continue
            cursor += 1  # attributes
            for _ in range(2):  # timestamp delta, offset delta
                _, cursor = _varint(records, cursor)
            for _ in range(2):  # key, value
                size, cursor = _varint(records, cursor)
                cursor += max(size, 0)
            count, _ = _varint(records, cursor)
            if count > most:
                msg = f"a record with {count} headers (at most {most})"
                raise TooManyHeaders(msg)
            if length <= 0:
                return
            cursor = start + length
    except IndexError:
        return


def _varint(data: bytes, cursor: int) -> tuple[int, int]:
    """The zigzag varint at ``cursor`` and the position after it."""
    value = shift = 0
    while True:
        byte = data[cursor]
        cursor += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), cursor
        shift += 7
        if shift > 63:
            raise IndexError("a varint longer than 10 bytes")


def _checked(decode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """``decode``, then :func:`check_headers` on what it returns (v2 batches only)."""

    def decode_and_check(payload: Any) -> bytes:
        records = decode(payload)
        check_headers(records)
        return records

    decode_and_check.__wrapped__ = decode  # type: ignore[attr-defined]
    return decode_and_check


def install() -> None:
    """Put the bounded decoders in every aiokafka module that binds a decoder's name."""
    import aiokafka.codec
    import aiokafka.record.default_records
    import aiokafka.record.legacy_records

    modules: list[Any] = [
        aiokafka.codec,
        aiokafka.record.default_records,
        aiokafka.record.legacy_records,
    ]
    v2: list[Any] = [aiokafka.record.default_records]  # record batches with headers
    try:
        from aiokafka.record._crecords import default_records, legacy_records

        modules += [default_records, legacy_records]
        v2.append(default_records)
    except ImportError:  # aiokafka without its compiled extensions
        pass
    for module in modules:
        for name, decoder in DECODERS.items():
            if hasattr(module, name):
                setattr(module, name, _checked(decoder) if module in v2 else decoder)
