"""Cost of campaign fingerprints: milliseconds per 1,000 messages for the band keys alone
(``models.fingerprint``); for the fingerprints the scoring process computes with the scores (band
keys, their partitions, contact tokens: ``streams.campaigns.fingerprints``); for the records
the event loop builds from those (``fingerprint_records``); and for the campaign fold's two steps
over those records (``streams.campaign_fold``): reading each record's members (checked, as the
topic is writable by anyone with access) and counting them into their bands' states, a fold
batch of 64 records at a time. On normalized sample traffic, in batches of 256; the fold's
figures leave out its store and the broker.

    .venv/bin/python benchmarks/fingerprints.py [--messages N] [--rounds R]

The texts are normalized first, as the scoring step leaves them; the figure is the extra work
per batch. Compare it with scoring's cost per message (``benchmarks/scoring_speed.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.campaigns import Member, observe_all  # noqa: E402
from models.fingerprint import band_keys  # noqa: E402
from models.normalize import analyse  # noqa: E402
from streams.campaign_fold import FOLD_BATCH, band_members  # noqa: E402
from streams.campaigns import features, fingerprint_records  # noqa: E402
from streams.decoding import Event  # noqa: E402
from streams.fleet_signing import FleetSigner  # noqa: E402
from streams.partitioning import partition_for  # noqa: E402
from streams.pipeline import RawMessage  # noqa: E402
from streams.records import Decision  # noqa: E402

TRAFFIC = ROOT / "devtools" / "samples" / "traffic.jsonl"
BATCH = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_240)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in TRAFFIC.read_text().splitlines() if line.strip()]
    texts = (texts * (args.messages // len(texts) + 1))[: args.messages]
    memo = {text: analyse(text) for text in texts}
    normalized = [memo[text][0] for text in texts]
    events = [
        Event("chat.message", f"e{i}", f"a{i % 997}", t, "chat", {"conversation_id": f"c{i % 499}"})
        for i, t in enumerate(texts)
    ]
    decision = Decision("e", "chat.message", "a", "t", 0, 0, "allow", {}, (), (), "m", "p", 0.0)
    batches = range(0, len(texts), BATCH)

    def keys_only() -> None:
        for start in batches:
            band_keys(normalized[start : start + BATCH])

    def fingerprinted_in_scoring() -> None:
        for start in batches:
            features(events[start : start + BATCH], memo, 8)

    found = [features(events[start : start + BATCH], memo, 8) for start in batches]

    def records_in_event_loop() -> None:
        for start, chunk_found in zip(batches, found, strict=True):
            chunk = events[start : start + BATCH]
            fingerprint_records(chunk, [decision] * len(chunk), chunk_found, 0.0)

    records = [
        RawMessage("campaign.fingerprints", partition_for(key, 8), 0, key, value)
        for start, chunk_found in zip(batches, found, strict=True)
        for _, key, value in fingerprint_records(
            events[start : start + BATCH],
            [decision] * len(chunk_found),
            chunk_found,
            time.time(),
        )
    ]
    signer = FleetSigner(None, ())  # unsigned: the figure is the fold's checks, not the MAC
    read = [band_members(raw, signer, 8, 256, time.time()) for raw in records]

    def fold_reads_members() -> None:
        for raw in records:
            band_members(raw, signer, 8, 256, time.time())

    def fold_counts_members() -> None:
        states: dict[tuple[int, str], dict[str, object]] = {}
        for start in range(0, len(records), FOLD_BATCH):
            groups: dict[tuple[int, str], list[Member]] = {}
            for raw, found_members in zip(
                records[start : start + FOLD_BATCH], read[start : start + FOLD_BATCH], strict=True
            ):
                assert isinstance(found_members, list)
                for band, member in found_members:
                    groups.setdefault((raw.partition, band), []).append(member)
            for key, members in groups.items():
                states[key] = observe_all(states.get(key, {}), members, 3_600.0)

    fingerprinted = sum(1 for k in band_keys(normalized) if k)
    print(
        f"{len(texts)} messages, {fingerprinted / len(texts):.0%} fingerprinted, batches of {BATCH}"
    )
    rows = (
        ("band keys", keys_only),
        ("keys, partitions, tokens", fingerprinted_in_scoring),
        ("records from those", records_in_event_loop),
        ("fold: members read", fold_reads_members),
        ("fold: members counted", fold_counts_members),
    )
    for name, run in rows:
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        per_thousand = statistics.median(times) / len(texts) * 1000 * 1000
        print(f"{name:>26}: {per_thousand:6.1f} ms per 1,000 messages (median of {args.rounds})")


if __name__ == "__main__":
    main()
