"""Riding out a broker that is away: capped exponential backoff and a bounded number of warnings.

A Kafka outage can last seconds or hours; the worker never exits for one. Whatever fails (a
fetch, a send, a delivery, a commit) is retried after a delay that doubles up to ``RETRY_MAX_S``,
with one warning when the trouble starts, one every ``WARN_EVERY_S`` while it lasts, and one when
it is over, instead of one per attempt.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
WARN_EVERY_S = 30.0


class Outage:
    """One stretch of failures of ``what`` (e.g. "batch reader"): delays and warnings."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = time.monotonic()
        self.failures = 0
        self._warned_at = 0.0

    def failed(self, exc: BaseException) -> float:
        """Count a failure, warn if one is due; the seconds to wait before the next attempt."""
        self.failures += 1
        now = time.monotonic()
        if self.failures == 1 or now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "%s: Kafka unavailable for %.0fs (%d failed attempts), retrying: %r",
                self.what,
                now - self.started,
                self.failures,
                exc,
            )
        return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(self.failures - 1, 10))

    def over(self) -> None:
        """The attempt after the failures succeeded."""
        log.warning(
            "%s: Kafka available again after %.0fs (%d failed attempts); resumed",
            self.what,
            time.monotonic() - self.started,
            self.failures,
        )
