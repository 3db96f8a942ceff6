"""What the hot path pays per event for its contracts: decoding, building decisions, serializing.

Decodes 10,000 chat messages and posts, builds their decisions from fixed scores and verdicts
(no model and no policy, so the figure is only the records' code) and serializes each as the
pipeline does, best of
``--repeats`` runs in CPU time (the machine may be shared). Run it against two checkouts with the same interpreter to compare them:
``PYTHONPATH=OTHER_CHECKOUT python benchmarks/decisions.py``.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import orjson

from models.policy import Policy, Thresholds
from streams.decide import Position, build_decisions
from streams.decoding import Event, decode

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
    args = parser.parse_args()
    raw = raw_events(args.events)
    rng = np.random.default_rng(7)
    scores = rng.random((args.events, len(LABELS))) ** 6  # mostly allow, some review and block
    # the policy's verdicts once, outside the timing: only the decision records are measured
    policy = Policy(LABELS, {label: Thresholds(0.5, 0.9) for label in LABELS})
    verdicts = policy.decide_batch(scores)
    decided = SimpleNamespace(version=policy.version, decide_batch=lambda *_: verdicts)
    serving = cast(
        Any, SimpleNamespace(model=SimpleNamespace(labels=LABELS), policy=decided, version="v1")
    )
    positions = [Position("chat.messages", 0, i) for i in range(args.events)]
    decode_s, build_s, dump_s = [], [], []
    for _ in range(args.repeats):
        began = time.process_time()
        events = [
            decode(value, topic, max_event_bytes=1 << 20, max_text_chars=20_000)
            for value, topic in raw
        ]
        decoded = time.process_time()
        decisions = build_decisions(serving, cast(list[Event], events), positions, scores, 1.0)
        built = time.process_time()
        for decision in decisions:
            orjson.dumps(decision)
        dumped = time.process_time()
        decode_s.append(decoded - began)
        build_s.append(built - decoded)
        dump_s.append(dumped - built)
    print(f"{args.events} events, best of {args.repeats} runs (ms):")
    print(f"  decode            {min(decode_s) * 1000:8.2f}")
    print(f"  build decisions   {min(build_s) * 1000:8.2f}")
    print(f"  serialize         {min(dump_s) * 1000:8.2f}")
    total = min(b + d for b, d in zip(build_s, dump_s, strict=True))
    print(f"  build + serialize {total * 1000:8.2f}")


if __name__ == "__main__":
    main()
