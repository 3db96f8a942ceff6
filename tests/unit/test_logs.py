"""JSON log lines parse and carry the message and the exception; repeated warnings are capped."""

from __future__ import annotations

import logging
import sys

import orjson

from streams.logs import JsonFormatter, RateLimitFilter


def test_json_formatter_writes_one_object_per_record() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "streams.agents", logging.ERROR, __file__, 1, "model %s failed", ("v1",), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    entry = orjson.loads(line)
    assert entry["message"] == "model v1 failed" and entry["level"] == "error"
    assert entry["logger"] == "streams.agents" and "ValueError: boom" in entry["exc"]
    assert "\n" not in line


def _record(name: str, level: int, msg: str, created: float) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, ("node-1",), None)
    record.created = created
    return record


def test_rate_limit_passes_a_burst_per_message_then_counts_what_it_dropped() -> None:
    limiter = RateLimitFilter(burst=3, period=60.0)
    retry = "Unable connect to node with id %s"
    # an outage: 100 retries a second for 60 s from one client
    passed = [
        limiter.filter(_record("aiokafka.conn", logging.ERROR, retry, t / 100)) for t in range(6000)
    ]
    assert sum(passed) == 3 and passed[:3] == [True, True, True]
    # another message, another logger, and anything below WARNING are counted apart
    assert limiter.filter(_record("aiokafka.cluster", logging.ERROR, retry, 1.0))
    assert limiter.filter(_record("aiokafka.conn", logging.WARNING, "Heartbeat failed", 1.0))
    assert all(
        limiter.filter(_record("aiokafka.conn", logging.INFO, retry, 2.0)) for _ in range(100)
    )
    # the next window's first record says how many were dropped, and still formats its args
    later = _record("aiokafka.conn", logging.ERROR, retry, 61.0)
    assert limiter.filter(later)
    message = later.getMessage()
    assert message.startswith("Unable connect to node with id node-1")
    assert "5997 more like this" in message
    assert limiter.filter(_record("aiokafka.conn", logging.ERROR, retry, 62.0))
