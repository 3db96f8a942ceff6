"""The stream benchmark's rounds: chatguard and the hand-written loops measured in alternating
order, the ratio taken within each round (the benchmark itself is not a test; its rows are
replaced here by recorded calls, so nothing touches Kafka)."""

from __future__ import annotations

from argparse import Namespace
from types import ModuleType
from typing import Any

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def stream() -> ModuleType:
    return load_benchmark("stream")


def test_rounds_alternate_and_the_ratio_is_the_median_of_each_rounds_own(
    stream: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # per round: chatguard, aiokafka loop, confluent loop (events/s); the machine drifts
    rates = [(100.0, 50.0, 200.0), (300.0, 60.0, 250.0), (90.0, 100.0, 30.0)]
    calls: list[tuple[int, str]] = []
    copies: list[str] = []

    def round_of(tag: str) -> int:
        return int(tag[-1])

    def run_chatguard(settings: Any, env: Any, n: int, tag: str) -> dict[str, Any]:
        calls.append((round_of(tag), "chatguard"))
        return {"events_per_s": rates[round_of(tag)][0]}

    def run_baseline(
        settings: Any, env: Any, n: int, tag: str, score: bool, client: str = "aiokafka"
    ) -> dict[str, float]:
        calls.append((round_of(tag), client))
        return {"events_per_s": rates[round_of(tag)][1 if client == "aiokafka" else 2]}

    def backlog_copy(run_id: str, env: Any, events: Any, tag: str) -> tuple[str, str]:
        copies.append(tag)
        return f"settings-{tag}", f"env-{tag}"

    monkeypatch.setattr(stream, "run_chatguard", run_chatguard)
    monkeypatch.setattr(stream, "run_baseline", run_baseline)
    monkeypatch.setattr(stream, "backlog_copy", backlog_copy)
    got = stream.alternating_rounds("run", "settings", "env", [], Namespace(rounds=3, events=1_000))

    assert copies == ["r1", "r2"]  # the first round reads the backlog itself
    order = [[client for number, client in calls if number == r] for r in range(3)]
    assert order[0] == ["chatguard", "aiokafka", "confluent"]
    assert order[1] == ["confluent", "aiokafka", "chatguard"]
    assert order[2] == order[0]
    ratios = [r["ratio"] for r in got["rounds"]]
    assert ratios == pytest.approx([0.5, 1.2, 0.9])  # each against its own round's best loop
    assert got["ratio_chatguard_to_baseline"] == pytest.approx(0.9)
    assert got["chatguard"]["events_per_s"] == 100.0  # the median round's row
    assert got["baseline"]["events_per_s"] == 60.0
    assert got["baseline_confluent"]["events_per_s"] == 200.0
