"""Stand-ins for the records the two Kafka clients hand out, for the readers' batch logic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AiokafkaRecord:  # what aiokafka hands out
    partition: Any
    offset: int
    value: bytes = b"x"
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class RdkafkaMessage:  # what confluent-kafka hands out
    partition_: int
    offset_: int
    value_: bytes = b"x"
    headers_: list[tuple[str, bytes]] | None = None

    def topic(self) -> str:
        return "chat.messages"

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return self.value_

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.headers_

    def error(self) -> None:
        return None
