"""Record batches decompress to at most the bound, whatever the codec; under it, as before."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys

import cramjam
import pytest

from chatguard.settings import Settings, SettingsError
from streams import decompression, kafka_options
from streams.app import create_app
from streams.decompression import DecompressedTooLarge

TEXT = b'{"type": "chat.message", "text": "see you at lunch"}' * 2_000


def _xerial(payload: bytes, block: int = 32_768) -> bytes:
    """The Java client's framed snappy: a header, then length-prefixed raw blocks."""
    out = [b"\x82SNAPPY\x00" + struct.pack("!ii", 1, 1)]
    for start in range(0, len(payload), block):
        raw = bytes(cramjam.snappy.compress_raw(payload[start : start + block]))
        out.append(struct.pack("!i", len(raw)) + raw)
    return b"".join(out)


ENCODERS = {
    "zstd_decode": lambda data: bytes(cramjam.zstd.compress(data)),
    "lz4_decode": lambda data: bytes(cramjam.lz4.compress(data)),
    "gzip_decode": lambda data: gzip.compress(data),
    "snappy_decode": _xerial,
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_a_batch_under_the_bound_decompresses_as_it_was(name: str) -> None:
    decode = decompression.DECODERS[name]
    assert decode(ENCODERS[name](TEXT)) == TEXT
    assert decode(ENCODERS[name](b"")) == b""


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_a_batch_over_the_bound_is_refused(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompression, "_limit", len(TEXT) - 1)
    with pytest.raises(DecompressedTooLarge, match="decompresses to more than"):
        decompression.DECODERS[name](ENCODERS[name](TEXT))
    monkeypatch.setattr(decompression, "_limit", len(TEXT))
    assert decompression.DECODERS[name](ENCODERS[name](TEXT)) == TEXT


def test_gzip_reads_every_member_and_refuses_a_cut_one() -> None:
    two = gzip.compress(TEXT[:1000]) + gzip.compress(TEXT[1000:])
    assert decompression.gzip_decode(two) == TEXT
    with pytest.raises(EOFError):
        decompression.gzip_decode(gzip.compress(TEXT)[:-20])


def test_raw_snappy_decompresses_too() -> None:
    assert decompression.snappy_decode(bytes(cramjam.snappy.compress_raw(TEXT))) == TEXT


def test_a_bomb_costs_the_bound_not_its_size() -> None:
    """256 MB of spaces, a few KB of zstd: the decoder stops at the bound. Decoded in a process
    of its own, which is handed the few KB, so that its peak memory is the decoder's (cramjam
    alone: 240 MB more for a 300 MB bomb)."""
    bomb = bytes(cramjam.zstd.compress(b" " * (256 << 20)))
    script = (  # VmHWM is the process's own peak; ru_maxrss carries the parent's over exec
        "import sys\n"
        "from streams import decompression\n"
        "def peak():\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "    return int(status.split()[0]) // 1024\n"
        "bomb = sys.stdin.buffer.read()\n"
        "before = peak()\n"
        "try:\n"
        "    decompression.zstd_decode(bomb)\n"
        "    print('decoded')\n"
        "except decompression.DecompressedTooLarge:\n"
        "    print(peak() - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=bomb, capture_output=True)
    assert done.returncode == 0, done.stderr
    bound_mb = decompression.MAX_DECOMPRESSED_BYTES // (1 << 20)
    assert int(done.stdout) <= bound_mb + 16, done.stdout


def test_installed_in_every_aiokafka_module_that_binds_a_decoder() -> None:
    import aiokafka.codec
    import aiokafka.record.default_records
    from aiokafka.record._crecords import default_records

    decompression.install()
    assert aiokafka.codec.zstd_decode is decompression.zstd_decode
    for module in (aiokafka.record.default_records, default_records):  # v2: headers checked
        assert module.zstd_decode.__wrapped__ is decompression.zstd_decode


@pytest.mark.parametrize("decoder", ENCODERS)
def test_the_bound_is_a_setting_every_codec_keeps(decoder: str) -> None:
    """A platform whose producers send larger requests raises the bound, one that is short of
    memory lowers it: ``CHATGUARD_MAX_DECOMPRESSED_MB`` reaches every decoder through the app.
    It was a constant: a legitimate 80 MB batch was a dead letter whatever the operator set."""
    two_mb = b"x" * (2 << 20)
    packed = ENCODERS[decoder](two_mb)
    decode = decompression.DECODERS[decoder]
    try:
        create_app(Settings.from_env({"CHATGUARD_MAX_DECOMPRESSED_MB": "1"}))
        assert decompression.limit() == 1 << 20
        with pytest.raises(DecompressedTooLarge, match="more than 1 MB"):
            decode(packed)
        create_app(Settings.from_env({"CHATGUARD_MAX_DECOMPRESSED_MB": "3"}))
        assert decode(packed) == two_mb
    finally:
        decompression.set_limit(decompression.MAX_DECOMPRESSED_BYTES)
    assert Settings().max_decompressed_mb << 20 == decompression.MAX_DECOMPRESSED_BYTES


@pytest.mark.parametrize("value", ["0", "-5", "2001"])
def test_a_bound_no_reader_could_keep_is_refused_at_start(value: str) -> None:
    with pytest.raises(SettingsError, match="CHATGUARD_MAX_DECOMPRESSED_MB"):
        Settings.from_env({"CHATGUARD_MAX_DECOMPRESSED_MB": value})


def test_librdkafka_is_given_the_same_bound() -> None:
    options = kafka_options.rdkafka_group_consumer(
        Settings(max_decompressed_mb=200), "chatguard", "test"
    )
    assert options["receive.message.max.bytes"] == 201 << 20


def _records(*records: tuple[bytes | None, bytes, list[tuple[str, bytes | None]]]) -> bytes:
    """The records of a v2 batch as a codec gives them back (the batch without its header)."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 30)
    for offset, (key, value, headers) in enumerate(records):
        builder.append(offset, timestamp=None, key=key, value=value, headers=headers)
    return bytes(builder.build())[61:]  # a v2 batch's header is 61 bytes


def test_a_record_with_more_headers_than_any_producer_sets_makes_its_batch_unreadable() -> None:
    """An empty header is 2 bytes of a batch and about 64 once aiokafka has parsed it, all of
    a record's at once: 64 MB of them compress to a few KB and parsed to 2 GB before any reader
    saw the record. The check reads each record's lengths, not its bytes."""
    most = decompression.MAX_HEADERS
    fine = _records(
        (b"k", TEXT, [("trace", b"abc")]),
        (None, b"{}", [(f"h{i}", b"") for i in range(most)]),
    )
    decompression.check_headers(fine)
    bomb = _records((b"k", b"{}", []), (b"k", b"{}", [("", None)] * (most + 1)))
    with pytest.raises(decompression.TooManyHeaders, match=f"{most + 1} headers"):
        decompression.check_headers(bomb)
    # through the codec, as aiokafka's v2 batches call it: an unreadable batch
    packed = bytes(cramjam.zstd.compress(bomb))
    decompression.install()
    from aiokafka.record import default_records

    with pytest.raises(DecompressedTooLarge):
        default_records.zstd_decode(packed)
    # a truncated batch is left to aiokafka's own checks
    decompression.check_headers(bomb[:5])
