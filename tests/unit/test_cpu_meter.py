"""The stream benchmark's CPU meter: a row's CPU time is read over its measured span, and a
process that exits does not take its CPU time with it."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def cpu_meter() -> ModuleType:
    return load_benchmark("cpu_meter")


def test_cpu_time_is_interpolated_between_samples(cpu_meter: ModuleType) -> None:
    meter = cpu_meter.CpuMeter({"worker": [], "broker": []})
    meter.samples = [
        (100.0, {"worker": 1.0, "broker": 0.0}),
        (101.0, {"worker": 2.0, "broker": 0.5}),
        (103.0, {"worker": 2.0, "broker": 1.5}),
    ]
    spent = meter.between(100.5, 102.0)
    assert spent["worker"] == pytest.approx(0.5)  # 1.5 -> 2.0
    assert spent["broker"] == pytest.approx(0.75)  # 0.25 -> 1.0
    # outside the samples the ends are held, not extrapolated
    assert meter.between(90.0, 110.0) == {"worker": pytest.approx(1.0), "broker": 1.5}


def test_per_event_cost_over_the_outcomes_span(cpu_meter: ModuleType) -> None:
    meter = cpu_meter.CpuMeter({"worker": []})
    meter.samples = [(10.0, {"worker": 0.0}), (20.0, {"worker": 10.0})]
    # 4 outcomes stamped from 12 s to 14 s: 2 CPU seconds over 4 events
    cost = cpu_meter.per_event_us(meter, [12_000, 12_500, 13_000, 14_000])
    assert cost["worker"] == pytest.approx(500_000.0)


def test_a_busy_child_is_measured_and_keeps_its_time_after_it_exits(
    cpu_meter: ModuleType,
) -> None:
    # the child spins until it has used 0.3 s of CPU, however busy the machine is
    burner = "import time\nwhile time.process_time() < 0.3:\n    pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burner!r}])",
        ]
    )
    meter = cpu_meter.CpuMeter({"tree": [parent.pid]}, period=0.02, rescan=0.0).start()
    parent.wait()
    meter.stop()
    spent = meter.samples[-1][1]["tree"] - meter.samples[0][1]["tree"]
    # the grandchild was found by a scan, and its CPU time stayed counted after it exited
    assert spent >= 0.2
    assert cpu_meter.process_cpu_s(os.getpid()) is not None
