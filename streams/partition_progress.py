"""Noticing an assigned partition whose records wait while its position stands still, and saying
so on ``/health`` and ``/metrics``.

An outside probe held one partition of a worker for minutes with a transaction it opened and
never ended: a ``read_committed`` consumer cannot pass its first record until the broker aborts
it (after up to ``transaction.max.timeout.ms``), so the records behind it waited. ``/health``
said ok throughout and no metric showed it; only the group's lag did. A batch a reader cannot
step over holds a partition the same way.

Each client already knows, per assigned partition, where the reader is and where the partition
ends (aiokafka from its fetch responses, librdkafka in its statistics), so every
:data:`CHECK_EVERY_S` the worker reads those (nothing asked of the broker, nothing done per
record), and a partition is *stalled* once records have waited beyond its position for
``settings.partition_stall_s`` without the position moving. ``/health`` then says
``"degraded"`` and names it, with HTTP 200: a restart would not end another producer's
transaction, and would make the fleet flap.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streams import metrics

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0

Partition = tuple[str, int]  # topic, partition


@dataclass(frozen=True, slots=True)
class Offsets:
    """Where a reader is in a partition, as its client last saw it."""

    position: int  # the offset of the next record the reader takes
    end: int  # the high watermark: the offset the next record appended will get
    stable: int | None = None  # the last stable offset (read_committed stops there), if known


@dataclass(frozen=True, slots=True)
class _Seen:
    offsets: Offsets
    waiting_since: float | None  # since when records have waited at this position; None: none


class PartitionProgress:
    """Per assigned partition: its last offsets, and since when records have waited beyond a
    position that has not moved. Times are ``time.monotonic()``."""

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._seen: dict[Partition, _Seen] = {}
        self._reported: set[Partition] = set()  # stalled partitions already logged

    def observe(self, offsets: Mapping[Partition, Offsets], now: float) -> None:
        """Take one reading of every assigned partition; one not in ``offsets`` is forgotten (no
        longer assigned, or its client knows no position or end yet)."""
        for gone in self._seen.keys() - offsets.keys():
            del self._seen[gone]
            self._reported.discard(gone)
            metrics.forget_partition(*gone)
        for partition, now_at in offsets.items():
            before = self._seen.get(partition)
            since: float | None = None  # nothing waits
            if now_at.end > now_at.position:
                still = before is not None and before.offsets.position == now_at.position
                since = before.waiting_since if still and before else None
                since = now if since is None else since
            self._seen[partition] = _Seen(now_at, since)
            waited = now - since if since is not None else 0.0
            metrics.set_partition(*partition, now_at.end - now_at.position, waited)
            self._log_change(partition, now_at, waited)

    def stalled(self, now: float) -> list[dict[str, Any]]:
        """The stalled partitions for ``/health``, longest first: topic, partition, position,
        end, the last stable offset and the seconds records have waited at the position."""
        found = []
        for (topic, partition), seen in self._seen.items():
            waited = self._waited(seen, now)
            if waited >= self.stall_after_s:
                found.append(
                    {
                        "topic": topic,
                        "partition": partition,
                        "position": seen.offsets.position,
                        "end": seen.offsets.end,
                        "last_stable_offset": seen.offsets.stable,
                        "seconds": round(waited, 1),
                    }
                )
        return sorted(found, key=lambda stall: -stall["seconds"])

    @staticmethod
    def _waited(seen: _Seen, now: float) -> float:
        return 0.0 if seen.waiting_since is None else now - seen.waiting_since

    def _log_change(self, partition: Partition, offsets: Offsets, waited: float) -> None:
        """Log once when a partition stalls, and once when it moves again."""
        name = f"{partition[0]}-{partition[1]}"
        if waited >= self.stall_after_s and partition not in self._reported:
            self._reported.add(partition)
            held = (
                f", the last stable offset {offsets.stable} (a transaction left open?)"
                if offsets.stable is not None and offsets.stable <= offsets.position
                else ""
            )
            log.warning(
                "partition %s is stalled: %d records have waited %.0fs beyond position %d%s",
                name,
                offsets.end - offsets.position,
                waited,
                offsets.position,
                held,
            )
        elif waited < self.stall_after_s and partition in self._reported:
            self._reported.discard(partition)
            log.warning("partition %s moves again (position %d)", name, offsets.position)


class AgentLag:
    """``chatguard_agent_lag`` for each partition the Faust agents hold: a gauge, not a stall
    check, because an agent may rightly hold a partition (the retry agent waits for a
    report's due time, or for moderation to pass it)."""

    def __init__(self) -> None:
        self._shown: set[Partition] = set()

    def observe(self, offsets: Mapping[Partition, Offsets]) -> None:
        for gone in self._shown - offsets.keys():
            with contextlib.suppress(KeyError):
                metrics.AGENT_LAG.remove(gone[0], str(gone[1]))
        self._shown = set(offsets)
        for (topic, partition), at in offsets.items():
            lag = max(at.end - at.position, 0)
            metrics.AGENT_LAG.labels(topic=topic, partition=str(partition)).set(lag)


def aiokafka_offsets(
    consumer: Any, topics: Iterable[str] | None = None
) -> dict[Partition, Offsets]:
    """The offsets of every partition an aiokafka ``consumer`` holds (of ``topics`` only, if
    given) from its subscription state: the position its reader has taken records to, and the
    high watermark and last stable offset of its last fetch response. Private attributes, read
    defensively: the public ``position()`` waits while a position is unknown."""
    subscription = getattr(getattr(consumer, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    if assignment is None:
        return {}
    wanted = None if topics is None else set(topics)
    found = {}
    for tp in list(assignment.tps):
        if wanted is not None and tp.topic not in wanted:
            continue
        state = assignment.state_value(tp)
        if state is None or not state.has_valid_position or state.highwater is None:
            continue
        stable = state.lso if state.lso is not None and state.lso >= 0 else None
        found[(tp.topic, tp.partition)] = Offsets(state.position, state.highwater, stable)
    return found


def rdkafka_offsets(statistics: Mapping[str, Any]) -> dict[Partition, Offsets]:
    """The offsets of every partition in librdkafka's statistics (``stats_cb``): the position
    the application has taken records to (before it takes any, the committed offset it starts
    from, or else the offset being fetched), the high watermark and the last stable offset.
    librdkafka's own ``consumer_lag`` counts to the last stable offset under read_committed, so
    it stays 0 behind an open transaction; this counts to the high watermark."""
    found = {}
    for topic, about in statistics.get("topics", {}).items():
        for number, part in about.get("partitions", {}).items():
            partition = int(number)
            if partition < 0 or part.get("fetch_state") in (None, "none", "stopped"):
                continue
            position = next(
                (
                    part[key]
                    for key in ("app_offset", "committed_offset", "next_offset")
                    if part.get(key, -1) >= 0
                ),
                None,
            )
            end, stable = part.get("hi_offset", -1), part.get("ls_offset", -1)
            if position is None or end < 0:
                continue
            found[(topic, partition)] = Offsets(position, end, stable if stable >= 0 else None)
    return found
