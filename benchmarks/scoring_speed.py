"""Scoring speed of the default model, in process: messages per second on one core for batches of
1, 32, 256 and 1024, model load time, and artifact size.

    .venv/bin/python benchmarks/scoring_speed.py [--registry DIR] [--messages N]

Without ``--registry`` it trains the default model from the seed corpus into a temporary
registry first. The messages are the sample traffic (``devtools/samples/traffic.jsonl``) when it
is there, else the seed corpus, repeated to ``--messages``. BLAS and OpenMP are pinned to one
thread so the figure is per core.
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
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRAFFIC = ROOT / "devtools" / "samples" / "traffic.jsonl"
TARGET_RATE = 20_000  # messages/s at batch 256
TARGET_LOAD_S = 2.0
TARGET_SIZE_MB = 50.0


def _texts(limit: int) -> list[str]:
    from training.train import SEED_CORPUS

    source = TRAFFIC if TRAFFIC.is_file() else SEED_CORPUS
    base = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            text = row.get("text") if isinstance(row, dict) else None
            if isinstance(text, str) and text.strip():
                base.append(text)
    texts = (base * (limit // max(len(base), 1) + 1))[:limit]
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--messages", type=int, default=20_480)
    parser.add_argument(
        "--version",
        action="append",
        default=[],
        help="version(s) to measure (repeatable; default: the current one). The first is the "
        "reference: on a busy machine, compare versions measured in the same run",
    )
    args = parser.parse_args(argv)

    from models.registry import ModelRegistry
    from training.train import train_files

    if args.registry is None:
        registry = ModelRegistry(tempfile.mkdtemp(prefix="chatguard-bench-"))
        started = time.perf_counter()
        version, _ = train_files([], registry)
        registry.promote(version)
        print(
            f"trained the model from the bundled seed and clean corpus in {time.perf_counter() - started:.1f} s"
        )
    else:
        registry = ModelRegistry(args.registry)

    versions = args.version or [registry.current_version() or registry.versions()[-1]]
    texts = _texts(args.messages)
    results = [_measure(registry, version, texts) for version in versions]
    reference = results[0][0][256]
    for version, (rates, _, _) in zip(versions[1:], results[1:], strict=True):
        print(f"{version} / {versions[0]} at batch 256: {rates[256] / reference:.2f}x")
    return 0 if all(ok for _, _, ok in results) else 1


def _measure(registry: Any, version: str, texts: list[str]) -> tuple[dict[int, float], float, bool]:
    from models.version_folder import MODEL_FILE

    started = time.perf_counter()
    loaded = registry.load(version)
    load_s = time.perf_counter() - started
    size_mb = (registry.path(version) / MODEL_FILE).stat().st_size / 1e6
    mean_chars = sum(map(len, texts)) / len(texts)
    loaded.score(texts[:256])  # warm up
    print(
        f"model {version}: {len(loaded.labels)} categories; {len(texts)} messages, "
        f"mean {mean_chars:.0f} characters"
    )
    print(f"{'batch':>6} {'messages/s':>12} {'ms/batch':>9}")
    rates = {}
    for batch in (1, 32, 256, 1024):
        n = min(len(texts), 2_000) if batch == 1 else len(texts)
        started = time.perf_counter()
        for i in range(0, n, batch):
            loaded.score(texts[i : i + batch])
        elapsed = time.perf_counter() - started
        rates[batch] = n / elapsed
        print(f"{batch:>6} {rates[batch]:>12,.0f} {1000 * elapsed / -(-n // batch):>9.2f}")
    print(f"model load {load_s:.3f} s (target < {TARGET_LOAD_S} s)")
    print(f"artifact {size_mb:.1f} MB (target < {TARGET_SIZE_MB} MB)")
    ok = rates[256] >= TARGET_RATE and load_s < TARGET_LOAD_S and size_mb < TARGET_SIZE_MB
    print(
        f"batch 256: {rates[256]:,.0f} messages/s (target >= {TARGET_RATE:,}): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return rates, load_s, ok


if __name__ == "__main__":
    sys.exit(main())
