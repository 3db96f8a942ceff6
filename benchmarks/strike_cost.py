"""What one strike costs the enforcement agent on an account that is blocked again and again.

    .venv/bin/python benchmarks/strike_cost.py [--strikes 3000] [--repeats 5]

A spammer's account keeps its newest thousand strikes, signal ids and strike times in its state
(``streams.enforcement``), and every strike of the flood rebuilds that state and holds it for
the batch's write (``streams.batch_writes``). This times both steps per strike, past the
bound, as the agent runs them (a strike signal as its record, a batch of 256 signals), with and
without the growth bound that spares measuring the state's JSON each time; the best of
``--repeats`` runs is kept (least disturbed by other processes). Not part of the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.batch_writes import BatchWrites  # noqa: E402
from streams.enforcement import MAX_SIGNALS, apply_strike, growth_bound  # noqa: E402

DAY = 86_400.0
BATCH = 256


def signals(count: int) -> list[dict[str, Any]]:
    return [
        {
            "signal_id": f"block:{uuid.uuid4()}",
            "kind": "block",
            "event_id": str(uuid.uuid4()),
            "content": uuid.uuid4().hex[:32],
            "account_id": "acct-1",
            "categories": ["spam", "fraud"],
            "weight": 1.0,
            "at": 0.0,
        }
        for _ in range(count)
    ]


def run(flood: list[dict[str, Any]], bounded: bool) -> tuple[float, float]:
    """Microseconds per strike of ``apply_strike`` alone, and with holding the state."""
    state = _bound_state(flood)
    rest = flood[MAX_SIGNALS:]
    records = [orjson.dumps(signal) for signal in rest]
    applying = holding = 0.0
    writes = BatchWrites({}, "account-strikes")
    for i, (signal, record) in enumerate(zip(rest, records, strict=True)):
        if i % BATCH == 0:
            writes.write(lambda _event: None)
        started = time.perf_counter()
        new_state, _ = apply_strike(
            state, signal, restrict_at=3, suspend_at=6, at=MAX_SIGNALS + i, window_s=DAY
        )
        applied = time.perf_counter()
        held = writes.get("slot") is not None
        grown = None
        if bounded and held:
            grown = growth_bound(state, new_state, len(record), len(signal["categories"]))
        writes.hold("slot", "acct-1", new_state, None, grown)
        holding += time.perf_counter() - applied
        applying += applied - started
        state = new_state
    return applying * 1e6 / len(rest), (applying + holding) * 1e6 / len(rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strikes", type=int, default=3_000, help="strikes past the bound")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    flood = signals(MAX_SIGNALS + args.strikes)
    best: dict[bool, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for bounded in (False, True):
            figures = run(flood, bounded)
            best[bounded] = min(best.get(bounded, figures), figures)
    state_bytes = len(orjson.dumps(_bound_state(flood)))
    print(f"an account at its bound of {MAX_SIGNALS:,} strikes ({state_bytes:,} bytes of JSON)")
    print(f"apply_strike alone: {best[True][0]:.0f} µs a strike")
    print(f"apply and hold, every state measured: {best[False][1]:.0f} µs a strike")
    print(
        f"apply and hold, measured when the growth bound could reach the limit: {best[True][1]:.0f} µs a strike"
    )


def _bound_state(flood: list[dict[str, Any]]) -> dict[str, Any]:
    """The account's state after the flood's first ``MAX_SIGNALS`` strikes: at its bound."""
    state: dict[str, Any] = {}
    for i, signal in enumerate(flood[:MAX_SIGNALS]):
        state, _ = apply_strike(state, signal, restrict_at=3, suspend_at=6, at=i, window_s=DAY)
    return state


if __name__ == "__main__":
    main()
