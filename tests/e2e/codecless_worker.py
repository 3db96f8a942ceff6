"""``python -m tests.e2e.codecless_worker -l info``: the moderation worker with a Kafka client that
has no library for snappy, lz4 or zstd (as if installed without cramjam), so that a record batch it
cannot decompress reaches it: for the test that such a batch does not stop the worker."""

from __future__ import annotations

import sys

import aiokafka.codec

aiokafka.codec.cramjam = None  # has_snappy(), has_lz4() and has_zstd() now say no

from streams.worker import main  # noqa: E402 - the codecs must be gone before the app loads

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
