"""Noticing a librdkafka client that has forgotten every broker, so that it can be replaced.

A single-node KRaft broker that is shutting down answers a metadata request with no broker in
it. librdkafka (2.10 and later) then forgets the brokers the response leaves out, and should go
back to ``bootstrap.servers``; but when the connection drops while it handles that response, it
cancels its own re-bootstrap and never tries again (librdkafka issue #5301, open at 2.16.2). The
client then knows no broker at all and waits forever, also after the broker is back: in about one
broker restart in five here, the rdkafka reader's consumer did, and the worker moderated nothing
until it was restarted, with ``/health`` saying ok.

A client in a plain outage keeps its brokers in its list, and a client that re-bootstraps has
its bootstrap brokers back within milliseconds; only the stuck one goes on with none. librdkafka's
statistics (``stats_cb``, every second) list the brokers a client knows, so the reader replaces a
client whose list has held none but logical ones (the group coordinator's handle) for
:data:`FORGOTTEN_FOR_S` (``streams.rdkafka_reader``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# long enough that a re-bootstrap in progress has added its brokers back (it takes milliseconds)
FORGOTTEN_FOR_S = 5.0
# brokers that are no connection of their own: the group coordinator's handle, the internal one
NOT_A_BROKER = frozenset({"logical", "internal"})


class BrokerListWatch:
    """How long a librdkafka client has known no broker, from its statistics."""

    def __init__(self, limit_s: float = FORGOTTEN_FOR_S) -> None:
        self.limit_s = limit_s
        self._empty_since: float | None = None

    def saw(self, statistics: Mapping[str, Any], now: float) -> bool:
        """Take one statistics snapshot taken at ``now`` (monotonic seconds); true once the
        client has known no broker for ``limit_s``."""
        if knows_a_broker(statistics):
            self._empty_since = None
            return False
        if self._empty_since is None:
            self._empty_since = now
        return now - self._empty_since >= self.limit_s


def knows_a_broker(statistics: Mapping[str, Any]) -> bool:
    """Whether the client's broker list holds a broker it can connect to, in any state."""
    brokers = statistics.get("brokers")
    if not isinstance(brokers, Mapping):
        return True  # a snapshot without the list says nothing against it
    return any(
        isinstance(broker, Mapping) and broker.get("source") not in NOT_A_BROKER
        for broker in brokers.values()
    )
