"""What rules cost the worker's hot path: process time of scoring and deciding sample traffic with
no rules, and with 100,000 terms plus 10,000 domains (the issue's bound: < 10%).

    .venv/bin/python benchmarks/rules_cost.py [--registry DIR] [--events 1000] [--repeats 9]
        [--no-reuse]

Without ``--registry`` it trains the default model from the seed corpus into a temporary
registry first. Events are the sample traffic (``devtools/samples/traffic.jsonl``) in batches of
256, every tenth carrying a domain. Scoring plus deciding and applying the rules are timed apart,
``--repeats`` times interleaved, and the best (least disturbed by other processes) of each kept:
the rules' cost is what applying them adds over applying none. ``--no-reuse`` makes the rules normalize
each text again instead of reading what scoring computed (the behaviour before they shared it).
BLAS and OpenMP are pinned to one thread so the figures are per core. Not part of the tests.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TRAFFIC = ROOT / "devtools" / "samples" / "traffic.jsonl"
BATCH = 256

from big_rules import rules_text  # noqa: E402  (benchmarks/, the script's folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-reuse", action="store_true")
    args = parser.parse_args(argv)

    from models.policy import Policy
    from models.registry import ModelRegistry
    from models.rules import EMPTY, RuleSet, load_rules
    from streams.decide import Position, build_decisions, score_events
    from streams.decoding import Event
    from streams.model_holder import ServingModel
    from streams.rules_holder import apply_rules
    from training.train import train_files

    if args.registry is None:
        registry = ModelRegistry(tempfile.mkdtemp(prefix="chatguard-bench-"))
        version, _ = train_files([], registry)
        registry.promote(version)
    else:
        registry = ModelRegistry(args.registry)
    model = registry.load(registry.current_version() or registry.versions()[-1])
    serving = ServingModel(model, Policy.from_model(model, ""))

    rows = [json.loads(line) for line in TRAFFIC.read_text(encoding="utf-8").splitlines() if line]
    texts = [r["text"] for r in rows if isinstance(r.get("text"), str) and r["text"].strip()]
    texts = (texts * (args.events // len(texts) + 1))[: args.events]
    texts = [t + (" see scam00042.top now" if i % 10 == 0 else "") for i, t in enumerate(texts)]
    events = [
        Event("chat.message", f"e{i}", f"a{i % 97}", text, "chat", {})
        for i, text in enumerate(texts)
    ]
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    started = time.perf_counter()
    big = load_rules(rules_text(100_000, 10_000))
    print(f"compiled 100,000 terms + 10,000 domains in {time.perf_counter() - started:.1f} s")

    def run(ruleset: RuleSet) -> tuple[float, float]:
        """Process time of scoring and deciding, and of applying ``ruleset``, for all batches."""
        base = rules = 0.0
        for batch in batches:
            began = time.process_time()
            memo: dict[str, tuple[str, tuple[float, ...]]] = {}
            scores, _ = score_events(serving, batch, memo)
            positions = [Position("t", 0, i) for i in range(len(batch))]
            decisions = build_decisions(serving, batch, positions, scores, 0.0)
            middle = time.process_time()
            apply_rules(
                ruleset,
                serving,
                batch,
                scores,
                decisions,
                None if args.no_reuse else memo,
            )
            base += middle - began
            rules += time.process_time() - middle
        return base, rules

    run(EMPTY), run(big)  # warm up
    base: list[float] = []
    empty: list[float] = []
    full: list[float] = []
    for _ in range(args.repeats):
        b, e = run(EMPTY)
        base.append(b)
        empty.append(e)
        b, r = run(big)
        base.append(b)
        full.append(r)
    # the least disturbed run of each part; the rules' cost is what they add over no rules
    scoring, added = min(base), min(full) - min(empty)
    mode = "normalizing again" if args.no_reuse else "reusing scoring's normalized text"
    print(
        f"{len(events)} events, best of {args.repeats}, {mode}: scoring and deciding "
        f"{scoring * 1000:.0f} ms; 100k terms + 10k domains add {added * 1000:.1f} ms "
        f"(+{added / scoring * 100:.1f}%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
