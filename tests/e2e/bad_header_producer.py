"""Write one record whose header key is not UTF-8, as a client that does not check can.

Kafka's protocol declares header keys strings, but the broker passes on whatever bytes a client
sends. aiokafka's pure-Python batch builder encodes the key with ``str.encode``, so a ``str``
whose ``encode`` returns other bytes is how a test writes one; the C builder (the default)
would be loaded otherwise, hence a process of its own:

    AIOKAFKA_NO_EXTENSIONS=1 python -m tests.e2e.bad_header_producer BOOTSTRAP TOPIC KEY VALUE

Prints the record's offset.
"""

from __future__ import annotations

import asyncio
import os
import sys

NOT_UTF8 = b"\xff\xfe-not-utf8"


class _BadKey(str):
    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return NOT_UTF8


async def _send(bootstrap: str, topic: str, key: bytes, value: bytes) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, value, key=key, partition=0, headers=[(_BadKey("h"), b"v")]
        )
        return int(sent.offset)
    finally:
        await producer.stop()


def main(argv: list[str]) -> int:
    if os.environ.get("AIOKAFKA_NO_EXTENSIONS") != "1":
        print("set AIOKAFKA_NO_EXTENSIONS=1", file=sys.stderr)
        return 2
    bootstrap, topic, key, value = argv
    print(asyncio.run(_send(bootstrap, topic, key.encode(), value.encode())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
