"""What the hot path pays per event for its contracts: decoding, building decisions, serializing.

Decodes 10,000 chat messages and posts in batches, builds their decisions from fixed scores and
verdicts (no model and no policy, so the figure is only the records' code), stamps them with the
empty rule set's version as the pipeline does, and serializes each, best of
``--repeats`` runs in CPU time (the machine may be shared). Run it against two checkouts with the same interpreter to compare them:
``PYTHONPATH=OTHER_CHECKOUT python benchmarks/decisions.py``.
"""

from __future__ import annotations

import argparse
import inspect
import time
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import orjson

from models.policy import Policy, Thresholds
from models.rules import EMPTY
from streams.decide import Position, build_decisions
from streams.decoding import Event, decode
from streams.rules_holder import apply_rules

LABELS = ("spam", "fraud", "sexual", "gambling", "extremism", "hate")


def raw_events(count: int) -> list[tuple[bytes, str]]:
    """Half chat messages, half posts, of everyday length."""
    out = []
    for i in range(count):
        if i % 2:
            data: dict[str, Any] = {
                "type": "chat.message",
                "event_id": f"evt-{i}",
                "conversation_id": f"conv-{i % 97}",
                "sender_id": f"user-{i % 1000}",
                "text": f"see you at {i % 24}:00, bring the slides for the quarterly review",
                "sent_at": 1_764_000_000.0 + i,
            }
            out.append((orjson.dumps(data), "chat.messages"))
        else:
            data = {
                "type": "post",
                "event_id": f"evt-{i}",
                "account_id": f"acct-{i % 1000}",
                "account_type": "personal",
                "post_kind": "moment",
                "title": "weekend",
                "text": f"first snow of the year, {i} photos from the hike",
                "created_at": 1_764_000_000.0 + i,
            }
            out.append((orjson.dumps(data), "posts"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--batch", type=int, default=256, help="events per batch, as CHATGUARD_BATCH_SIZE"
    )
    args = parser.parse_args()
    raw = raw_events(args.events)
    rng = np.random.default_rng(7)
    scores = rng.random((args.events, len(LABELS))) ** 6  # mostly allow, some review and block
    # the policy's verdicts once, outside the timing: only the decision records are measured
    policy = Policy(LABELS, {label: Thresholds(0.5, 0.9) for label in LABELS})
    verdicts = policy.decide_batch(scores)
    at = [0]  # the first event of the batch in hand

    def decide_batch(batch_scores: np.ndarray, *_: object) -> object:
        return verdicts[at[0] : at[0] + len(batch_scores)]

    decided = SimpleNamespace(version=policy.version, decide_batch=decide_batch)
    serving = cast(
        Any, SimpleNamespace(model=SimpleNamespace(labels=LABELS), policy=decided, version="v1")
    )
    positions = [Position("chat.messages", 0, i) for i in range(args.events)]
    size = args.batch
    # the pipeline builds decisions with the rules version, where build_decisions takes it
    stamped = "rules_version" in inspect.signature(build_decisions).parameters
    version: dict[str, Any] = {"rules_version": EMPTY.version} if stamped else {}
    decode_s, build_s, dump_s = [], [], []
    for _ in range(args.repeats):
        took = [0.0, 0.0, 0.0]
        # batch by batch, as the pipeline goes: nothing of a batch outlives it
        for start in range(0, args.events, size):
            at[0] = start
            began = time.process_time()
            events = cast(
                list[Event],
                [
                    decode(value, topic, max_event_bytes=1 << 20, max_text_chars=20_000)
                    for value, topic in raw[start : start + size]
                ],
            )
            decoded = time.process_time()
            decisions = build_decisions(
                serving,
                events,
                positions[start : start + size],
                scores[start : start + size],
                1.0,
                **version,
            )
            apply_rules(EMPTY, serving, events, scores[start : start + size], decisions)
            built = time.process_time()
            for decision in decisions:
                orjson.dumps(decision)
            dumped = time.process_time()
            took[0] += decoded - began
            took[1] += built - decoded
            took[2] += dumped - built
        decode_s.append(took[0])
        build_s.append(took[1])
        dump_s.append(took[2])
    print(f"{args.events} events in batches of {size}, best of {args.repeats} runs (CPU ms):")
    print(f"  decode            {min(decode_s) * 1000:8.2f}")
    print(f"  build decisions   {min(build_s) * 1000:8.2f}")
    print(f"  serialize         {min(dump_s) * 1000:8.2f}")
    total = min(b + d for b, d in zip(build_s, dump_s, strict=True))
    print(f"  build + serialize {total * 1000:8.2f}")


if __name__ == "__main__":
    main()
