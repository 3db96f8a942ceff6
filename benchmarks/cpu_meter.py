"""CPU time per event: the core-seconds a row's processes and the broker spend on each event.

Issue 17's targets are ratios of rates, but whether they fit together on one machine is a
question of CPU time: two workers at 1.5x one spend 1.5x the core-seconds per second that one
does, and so does the broker that shares the machine. A thread reads ``/proc`` a few times a
second; a row's CPU time is taken over the span its rate is taken over (its outcomes' first and
last timestamps), interpolated between the samples at both ends, so start-up (the model's load)
and the idle wait after the last outcome are left out.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of one process (its threads included); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (the scoring child's fork server, the child itself),
    from one scan of ``/proc`` (about 5 ms)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class CpuMeter:
    """Samples the CPU seconds of named groups of process trees (``{"worker": [pid],
    "broker": [pid]}``) every ``period`` seconds, from ``start()`` to ``stop()``; the trees are
    scanned for new members every ``rescan`` seconds (a worker starts its scoring child once).
    A process that exits keeps the last CPU time read from it, so a total never goes down; one
    that starts and exits between two scans is not seen."""

    def __init__(
        self, groups: dict[str, list[int]], period: float = 0.2, rescan: float = 1.0
    ) -> None:
        self.groups = groups
        self.period = period
        self.rescan = rescan
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._last: dict[int, float] = {}
        self._members: dict[str, set[int]] = {name: set() for name in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CpuMeter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        scanned = float("-inf")
        while not self._stop.is_set():
            if time.monotonic() - scanned >= self.rescan:
                for name, roots in self.groups.items():
                    self._members[name].update(m for pid in roots for m in process_tree(pid))
                scanned = time.monotonic()
            self._sample()
            self._stop.wait(self.period)

    def _sample(self) -> None:
        totals: dict[str, float] = {}
        for name, members in self._members.items():
            for pid in members:
                cpu = process_cpu_s(pid)
                if cpu is not None:
                    self._last[pid] = cpu
            totals[name] = sum(self._last.get(pid, 0.0) for pid in members)
        self.samples.append((time.time(), totals))

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each group spent from ``start`` to ``end`` (wall-clock epoch seconds)."""
        return {name: self._at(name, end) - self._at(name, start) for name in self.groups}

    def _at(self, name: str, moment: float) -> float:
        points = [(t, totals.get(name, 0.0)) for t, totals in self.samples]
        before = [p for p in points if p[0] <= moment] or points[:1]
        after = [p for p in points if p[0] >= moment] or points[-1:]
        (t0, c0), (t1, c1) = before[-1], after[0]
        if t1 <= t0:
            return c0
        return c0 + (c1 - c0) * (moment - t0) / (t1 - t0)


def per_event_us(meter: CpuMeter, stamps_ms: list[int]) -> dict[str, float]:
    """Each group's CPU microseconds per event over the span of the outcomes' timestamps."""
    start, end = min(stamps_ms) / 1000, max(stamps_ms) / 1000
    return {
        name: seconds * 1e6 / len(stamps_ms) for name, seconds in meter.between(start, end).items()
    }
