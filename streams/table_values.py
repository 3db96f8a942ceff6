"""Every write to a Faust table goes through :func:`put`, which refuses a value too large for
the table's changelog.

Faust sends each change of a table to the table's changelog topic, through a producer that
refuses a request over 1,000,000 bytes (``producer_max_request_size``). It refuses after the
agent has moved on: the worker crashed, and crashed again after each restart, since replaying
the same input built the same value. A forged flood did that to the strikes table. Each state
has its own bounds; this is the check behind them all: a value over ``MAX_STATE_BYTES`` as JSON
is not written, the table keeps what it had, and the record that would have made it becomes a
dead letter (``state_too_large``).
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.decoding import Rejected

MAX_STATE_BYTES = 500_000  # half of what Faust's producer sends in one request


class StateTooLarge(Exception):
    """A table value that would not fit its changelog; the table was left as it was."""

    def __init__(self, table: str, key: str, size: int) -> None:
        super().__init__(
            f"the {table} state of {key[:80]!r} would be {size:,} bytes, over "
            f"{MAX_STATE_BYTES:,}: not written, the state stays as it was"
        )

    def rejected(self, event_id: str | None = None) -> Rejected:
        """This refusal as the dead letter of the record that caused it."""
        return Rejected("state_too_large", str(self), event_id)


def checked_size(name: str, key: str, value: Any) -> int:
    """``value``'s size in bytes as JSON; :class:`StateTooLarge` if over ``MAX_STATE_BYTES``."""
    size = len(orjson.dumps(value))
    if size > MAX_STATE_BYTES:
        raise StateTooLarge(name, key, size)
    return size


def put(table: Any, name: str, key: str, value: Any) -> None:
    """``table[key] = value``, unless ``value`` is over ``MAX_STATE_BYTES`` as JSON
    (:class:`StateTooLarge`)."""
    checked_size(name, key, value)
    table[key] = value
