"""JSON log lines parse and carry the message and the exception."""

from __future__ import annotations

import logging

import orjson

from streams.logs import JsonFormatter


def test_json_formatter_writes_one_object_per_record() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "streams.agents", logging.ERROR, __file__, 1, "model %s failed", ("v1",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    entry = orjson.loads(line)
    assert entry["message"] == "model v1 failed" and entry["level"] == "error"
    assert entry["logger"] == "streams.agents" and "ValueError: boom" in entry["exc"]
    assert "\n" not in line
