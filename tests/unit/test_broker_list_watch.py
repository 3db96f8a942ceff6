"""A librdkafka client that knows no broker is noticed from its own statistics, after a few
seconds, and one in an outage or re-bootstrapping is not (``streams.broker_list_watch``)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer

from streams.broker_list_watch import FORGOTTEN_FOR_S, BrokerListWatch, knows_a_broker

COORDINATOR = {"name": "GroupCoordinator", "nodeid": -1, "source": "logical", "state": "INIT"}
LEARNED_DOWN = {"name": "127.0.0.1:9092/1", "nodeid": 1, "source": "learned", "state": "DOWN"}
BOOTSTRAP = {"name": "127.0.0.1:9092/bootstrap", "nodeid": -1, "source": "configured"}


def _statistics(*brokers: dict[str, Any]) -> dict[str, Any]:
    return {"brokers": {b["name"]: b for b in brokers}, "cgrp": {"state": "query-coord"}}


def _first_statistics(client_options: dict[str, Any], make: Any) -> dict[str, Any]:
    """The first statistics a real librdkafka client writes (nothing needs to answer it)."""
    seen: list[dict[str, Any]] = []
    client = make(
        {
            **client_options,
            "statistics.interval.ms": 100,
            "stats_cb": lambda text: seen.append(orjson.loads(text)),
        }
    )
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        client.poll(0.1)
    if isinstance(client, Consumer):
        client.close()
    assert seen, "librdkafka wrote no statistics"
    return seen[0]


def test_a_client_in_an_outage_still_knows_its_brokers() -> None:
    assert knows_a_broker(_statistics(COORDINATOR, LEARNED_DOWN))
    assert knows_a_broker(_statistics(COORDINATOR, BOOTSTRAP))  # re-bootstrapping
    assert not knows_a_broker(_statistics(COORDINATOR))
    assert not knows_a_broker(_statistics())
    assert knows_a_broker({})  # no list: nothing against it


def test_real_statistics_list_the_bootstrap_broker_and_only_a_logical_one_without_it() -> None:
    """The shapes above are librdkafka's: a client given a bootstrap server lists it before it
    connects; a consumer given none lists only its group coordinator's logical handle."""
    unreachable = {"bootstrap.servers": "127.0.0.1:1", "socket.connection.setup.timeout.ms": 1000}
    assert knows_a_broker(_first_statistics(unreachable, Producer))
    lonely = _first_statistics({"group.id": "nobody"}, Consumer)
    assert [b.get("source") for b in lonely["brokers"].values()] == ["logical"]
    assert not knows_a_broker(lonely)


def test_the_watch_fires_once_no_broker_has_been_known_for_its_limit() -> None:
    watch = BrokerListWatch()
    empty = _statistics(COORDINATOR)
    assert not watch.saw(empty, now=100.0)
    assert not watch.saw(empty, now=100.0 + FORGOTTEN_FOR_S - 0.5)
    assert watch.saw(empty, now=100.0 + FORGOTTEN_FOR_S)
    assert watch.saw(empty, now=100.0 + FORGOTTEN_FOR_S + 1)


def test_a_broker_known_again_restarts_the_count() -> None:
    """A re-bootstrap adds the bootstrap brokers within milliseconds: that client recovers on
    its own and must not be replaced."""
    watch = BrokerListWatch(limit_s=5.0)
    assert not watch.saw(_statistics(COORDINATOR), now=0.0)
    assert not watch.saw(_statistics(COORDINATOR, BOOTSTRAP), now=4.0)
    assert not watch.saw(_statistics(COORDINATOR), now=6.0)
    assert not watch.saw(_statistics(COORDINATOR), now=10.0)
    assert watch.saw(_statistics(COORDINATOR), now=11.0)
