"""The worker's log output: optional JSON lines (``CHATGUARD_LOG_JSON=true``) for log shippers,
and a rate limit on repeated warnings so an outage cannot flood the log."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "exc"?}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def use_json_logs() -> None:
    """Switch every handler of the root logger (Faust installs them at start) to JSON lines."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())


@dataclass
class _Window:
    started: float
    passed: int = 1
    suppressed: int = 0


class RateLimitFilter(logging.Filter):
    """At most ``burst`` WARNING-or-worse records per logger and message template every
    ``period`` seconds; the first one let through afterwards says how many were dropped.

    While the broker is away, aiokafka's and Faust's clients log every failed connection,
    fetch, heartbeat and send, each retried every 100 ms or so: tens of thousands of lines a
    minute that hide everything else and cost CPU. The first few of each kind say all there is.
    """

    def __init__(self, burst: int = 3, period: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self._windows: dict[tuple[str, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        window = self._windows.get(key)
        if window is None or record.created - window.started >= self.period:
            self._windows[key] = _Window(record.created)
            if window is not None and window.suppressed:
                record.msg = (
                    f"{record.msg} [{window.suppressed} more like this in the last "
                    f"{record.created - window.started:.0f}s not logged]"
                )
            return True
        if window.passed < self.burst:
            window.passed += 1
            return True
        window.suppressed += 1
        return False


def limit_repeated_warnings(burst: int = 3, period: float = 60.0) -> RateLimitFilter:
    """Put one :class:`RateLimitFilter` on every handler of the root logger (Faust's)."""
    limiter = RateLimitFilter(burst, period)
    for handler in logging.getLogger().handlers:
        handler.addFilter(limiter)
    return limiter
