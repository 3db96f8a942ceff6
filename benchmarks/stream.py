"""Stream benchmark: chatguard's worker against a hand-written aiokafka loop, on the real broker.

    python benchmarks/stream.py [--events 50000] [--partitions 8] [--latency-seconds 20] [--warmup-seconds 5]

Starts a broker of its own (fresh storage, port 19092), trains the default model if needed, produces N realistic
events (English and Chinese, chat-length texts with a tail of long posts, 3% malformed) to fresh
topics, then measures, each with its own consumer group on the same events:
  * the in-process scoring rate (the ceiling the model sets),
  * chatguard's sustained throughput on the backlog (a worker subprocess) and its peak RSS, on
    the default batch ingest path and on the Faust agent path (``CHATGUARD_INGEST=faust``),
  * the baseline loop (same decoding, model and batch size) and the baseline without scoring
    (the ceiling the Kafka client sets),
  * the rules' cost as a throughput ratio: paired runs of chatguard on fresh copies of the backlog,
    without rules and with a file of 100,000 terms and 10,000 domains published (signed) to its
    rules topic before it starts, in alternating order (``--rules-terms``, ``--rules-pairs``),
  * end-to-end latency (produce timestamp → decision timestamp) at half chatguard's maximum rate,
    after a warm-up whose p99 is reported separately.
Prints a table and writes ``benchmarks/results/stream.json``. Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from big_rules import rules_text  # noqa: E402  (benchmarks/, the script's folder)

from chatguard.cli import main as chatguard  # noqa: E402
from chatguard.settings import Settings  # noqa: E402
from devtools.broker import LocalBroker  # noqa: E402
from devtools.produce import build_events  # noqa: E402
from models.errors import SignatureInvalid, SignatureMissing  # noqa: E402
from models.registry import ModelRegistry  # noqa: E402
from models.signing import generate, load_private_key, load_public_key  # noqa: E402
from streams.kafka_options import connection as client_options  # noqa: E402
from streams.outgoing import send_events  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REGISTRY = ROOT / ".run" / "bench-registry"
BENCH_KEYS = ROOT / ".run" / "bench-keys"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_all(
    settings: Settings, physical_topics: list[str], expected: int, timeout: float
) -> list[Any]:
    """Read ``physical_topics`` from the start until ``expected`` records or ``timeout`` seconds."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        isolation_level="read_committed",
        **client_options(settings),
    )
    await consumer.start()
    records: list[Any] = []
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(t, p)
            for t in physical_topics
            for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500, max_records=20_000)).values():
                records.extend(messages)
    finally:
        await consumer.stop()
    return records


def throughput(records: list[Any]) -> float:
    stamps = [r.timestamp for r in records]
    span = (max(stamps) - min(stamps)) / 1000
    return len(records) / span if span > 0 else float("nan")


def start_process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"worker not ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def run_chatguard(settings: Settings, env: dict[str, str], n: int, tag: str) -> dict[str, float]:
    port = free_port()
    log = ROOT / ".run" / f"bench-{tag}.log"
    worker_env = {
        **env,
        "CHATGUARD_APP_ID": f"{settings.app_id}-{tag}",
        "CHATGUARD_WEB_PORT": str(port),
        "CHATGUARD_DATA_DIR": str(ROOT / ".run" / f"bench-{tag}"),
    }
    process = start_process(
        [sys.executable, "-m", "streams", "worker", "-l", "warn"], worker_env, log
    )
    try:
        wait_ready(port, process, log)
        outputs = [settings.topic("moderation.decisions"), settings.topic("moderation.deadletter")]
        records = asyncio.run(read_all(settings, outputs, n, timeout=600))
        return {
            "events_per_s": throughput(records),
            "outcomes": len(records),
            "peak_rss_mb": peak_rss_mb(process.pid),
        }
    finally:
        stop(process)


def run_fleet(
    settings: Settings, env: dict[str, str], events: list[Any], workers: int, tag: str
) -> dict[str, float]:
    """``workers`` chatguard workers in one group: all started and assigned partitions first,
    then the events produced, so no rebalance falls inside the measurement. The producer is
    faster than the workers, so a backlog builds at once; the rate is taken from the outcomes'
    timestamps, as for the backlog rows."""
    processes: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        for i in range(workers):
            port = free_port()
            log = ROOT / ".run" / f"bench-{tag}-{i}.log"
            worker_env = {
                **env,
                "CHATGUARD_APP_ID": f"{settings.app_id}-{tag}",
                "CHATGUARD_WEB_PORT": str(port),
                "CHATGUARD_DATA_DIR": str(ROOT / ".run" / f"bench-{tag}-{i}"),
            }
            command = [sys.executable, "-m", "streams", "worker", "-l", "warn"]
            processes.append((start_process(command, worker_env, log), port, log))
        for process, port, log in processes:
            wait_ready(port, process, log)
        asyncio.run(send_events(settings, events))
        outputs = [settings.topic("moderation.decisions"), settings.topic("moderation.deadletter")]
        records = asyncio.run(read_all(settings, outputs, len(events), timeout=600))
        return {
            "workers": workers,
            "events_per_s": throughput(records),
            "outcomes": len(records),
            "peak_rss_mb": max(peak_rss_mb(process.pid) for process, _, _ in processes),
        }
    finally:
        for process, _, _ in processes:
            stop(process)


def run_baseline(
    settings: Settings,
    env: dict[str, str],
    n: int,
    tag: str,
    score: bool,
    client: str = "aiokafka",
) -> dict[str, float]:
    output_prefix = f"{settings.topic_prefix}{tag}."
    log = ROOT / ".run" / f"bench-{tag}.log"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "baseline_worker.py"),
        "--output-prefix",
        output_prefix,
        "--idle-exit",
        "30",
        "--client",
        client,
    ]
    if not score:
        command.append("--no-score")
    process = start_process(command, {**env, "CHATGUARD_APP_ID": f"{settings.app_id}-{tag}"}, log)
    try:
        outputs = [output_prefix + "moderation.decisions", output_prefix + "moderation.deadletter"]
        asyncio.run(
            ensure_topics(
                Settings.from_env(env, topic_prefix=output_prefix),
                ["moderation.decisions", "moderation.deadletter"],
            )
        )
        records = asyncio.run(read_all(settings, outputs, n, timeout=600))
        return {
            "events_per_s": throughput(records),
            "outcomes": len(records),
            "peak_rss_mb": peak_rss_mb(process.pid),
        }
    finally:
        stop(process)


def scoring_ceiling(texts: list[str], batch: int) -> float:
    model = ModelRegistry(REGISTRY).load_current()
    model.score(texts[:batch])  # warm up
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.score(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def latency(
    settings: Settings, env: dict[str, str], rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``warmup + seconds``; statistics cover the last ``seconds``.

    The first seconds after a worker reports ready include Faust's own start-up (table
    recovery, its group's rebalance) in the same process; they are reported separately."""
    port = free_port()
    log = ROOT / ".run" / "bench-latency.log"
    worker_env = {
        **env,
        "CHATGUARD_APP_ID": f"{settings.app_id}-lat",
        "CHATGUARD_WEB_PORT": str(port),
        "CHATGUARD_DATA_DIR": str(ROOT / ".run" / "bench-lat"),
    }
    asyncio.run(ensure_topics(settings))
    process = start_process(
        [sys.executable, "-m", "streams", "worker", "-l", "warn"], worker_env, log
    )
    try:
        wait_ready(port, process, log)
        events = build_events(int(rate * (warmup + seconds)), malformed_share=0.03, seed=2)
        asyncio.run(send_events(settings, events, rate=rate))
        inputs = [settings.topic("chat.messages"), settings.topic("posts")]
        outputs = [settings.topic("moderation.decisions"), settings.topic("moderation.deadletter")]
        produced = asyncio.run(read_all(settings, inputs, len(events), timeout=120))
        decided = asyncio.run(read_all(settings, outputs, len(events), timeout=120))
        sent_at = {r.key: r.timestamp for r in produced}
        # decisions are keyed by account; match them by event id in the value
        delays = []
        for record in decided:
            value = json.loads(record.value)
            key = (value.get("event_id") or "").encode() if "action" in value else record.key
            if key in sent_at:
                delays.append((sent_at[key], record.timestamp - sent_at[key]))
        in_order = np.asarray([delay for _, delay in sorted(delays)], dtype=float)
        first = int(len(in_order) * warmup / (warmup + seconds))
        arr, warm = in_order[first:], in_order[:first]
        # p99 per tenth of the run: a rising series means the worker fell behind the offered rate
        tenths = [float(np.percentile(part, 99)) for part in np.array_split(arr, 10) if len(part)]
        return {
            "offered_events_per_s": rate,
            "events": len(events),
            "matched": len(in_order),
            "warmup_s": warmup,
            "warmup_p99_ms": float(np.percentile(warm, 99)) if len(warm) else float("nan"),
            "measured_events": len(arr),
            "p50_ms": float(np.percentile(arr, 50)),
            "p95_ms": float(np.percentile(arr, 95)),
            "p99_ms": float(np.percentile(arr, 99)),
            "max_ms": float(arr.max()),
            "p99_by_tenth_ms": tenths,
            "peak_rss_mb": peak_rss_mb(process.pid),
        }
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument(
        "--warmup-seconds", type=float, default=5.0, help="offered load before latency counts"
    )
    parser.add_argument("--port", type=int, default=19092, help="the benchmark's own broker")
    parser.add_argument(
        "--rules-terms", type=int, default=100_000, help="terms in the rules row (0: no such row)"
    )
    parser.add_argument(
        "--rules-pairs", type=int, default=3, help="paired runs without/with the rules file"
    )
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running")
    parser.add_argument(
        "--no-fleet", dest="fleet", action="store_false", help="skip the one/two worker rows"
    )
    args = parser.parse_args()
    # fresh topics answer "not leader" for a moment after creation; aiokafka retries, and its
    # retry warnings would bury the figures
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    # a broker of its own with empty storage: a development broker holding thousands of test
    # topics makes every client metadata refresh (and so every worker) measurably slower
    broker = LocalBroker(port=args.port, data_dir=ROOT / ".run" / f"kafka-bench-{args.port}")
    if broker.pid() is not None:
        broker.stop(quiet=True)
    assert broker.data_dir is not None
    shutil.rmtree(broker.data_dir, ignore_errors=True)
    broker.start()
    try:
        run(args)
    finally:
        if not args.keep_broker:
            broker.stop()


def publish_rules(env: dict[str, str], terms: int) -> None:
    """Publish (signed with the benchmark's key) a rules file of ``terms`` terms and a tenth as
    many domains to the rules topic of ``env``'s prefix; none of them occurs in the traffic, so
    the row measures what matching costs, not what blocking saves."""
    path = ROOT / ".run" / "bench-rules.yaml"
    path.write_text(rules_text(terms, terms // 10, version=f"bench-{terms}"))
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        if chatguard(["rules", "publish", str(path)]) != 0:
            raise SystemExit("publishing the benchmark's rules failed")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def signed_bench_registry() -> None:
    """The benchmark's registry with a current model signed by the benchmark's own key pair
    (exported, so promotion signs with it and the workers verify with it)."""
    private, public = BENCH_KEYS / "model-signing.key", BENCH_KEYS / "model-signing.pub"
    if not private.exists():
        generate(private, public)
    os.environ["CHATGUARD_MODEL_SIGNING_KEY"] = str(private)
    os.environ["CHATGUARD_MODEL_PUBLIC_KEY"] = str(public)
    registry = ModelRegistry(REGISTRY)
    current = registry.current_version()
    if current is None:
        chatguard(["train", "--promote", "--registry", str(REGISTRY), "--quiet"])
        return
    try:
        registry.load(current, load_public_key(public))
    except (SignatureMissing, SignatureInvalid):  # promoted before the benchmark had keys
        registry.sign(current, load_private_key(private))


def rules_pairs(
    run_id: str, env: dict[str, str], events: list[Any], args: argparse.Namespace
) -> dict[str, Any]:
    """The rules' cost as paired runs: each pair runs chatguard on a fresh copy of the backlog
    without rules and with the big rules file, in alternating order (off/on, on/off, ...), so a
    drift in the machine's speed does not read as the rules' cost."""
    without: list[float] = []
    with_rules: list[float] = []
    rss: list[float] = []
    for pair in range(args.rules_pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        for rules_on in order:
            tag = f"r{'on' if rules_on else 'off'}{pair}"
            say(f"chatguard worker {'with' if rules_on else 'without'} rules, pair {pair + 1}")
            pair_env = {**env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}{tag}."}
            pair_settings = Settings.from_env(pair_env)
            asyncio.run(ensure_topics(pair_settings))
            asyncio.run(send_events(pair_settings, events))
            if rules_on:
                publish_rules(pair_env, args.rules_terms)
            result = run_chatguard(pair_settings, pair_env, args.events, tag)
            (with_rules if rules_on else without).append(result["events_per_s"])
            if rules_on:
                rss.append(result["peak_rss_mb"])
    ratios = [w / o for w, o in zip(with_rules, without, strict=True)]
    return {
        "terms": args.rules_terms,
        "domains": args.rules_terms // 10,
        "without_events_per_s": without,
        "with_events_per_s": with_rules,
        "ratios": ratios,
        "median_ratio": float(np.median(ratios)),
        "peak_rss_mb": max(rss),
    }


def run(args: argparse.Namespace) -> None:
    signed_bench_registry()
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        "CHATGUARD_BROKER": f"kafka://127.0.0.1:{args.port}",
        "CHATGUARD_TOPIC_PREFIX": f"{run_id}.",
        "CHATGUARD_TOPIC_PARTITIONS": str(args.partitions),
        "CHATGUARD_REGISTRY": str(REGISTRY),
        "CHATGUARD_APP_ID": run_id,
    }
    settings = Settings.from_env(env)
    say(f"producing {args.events} events to {args.partitions} partitions ({run_id})")
    events = build_events(args.events, malformed_share=0.03, seed=1)
    asyncio.run(ensure_topics(settings))
    produce_s = asyncio.run(send_events(settings, events))
    lengths = np.asarray(
        [len(json.loads(e.value).get("text", "")) for e in events if e.kind == "valid"]
    )
    texts = [json.loads(e.value)["text"] for e in events if e.kind == "valid"]

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "events": args.events,
        "partitions": args.partitions,
        "text_chars": {
            "median": float(np.median(lengths)),
            "p95": float(np.percentile(lengths, 95)),
            "max": int(lengths.max()),
        },
        "produce_events_per_s": args.events / produce_s,
    }
    say("in-process scoring ceiling (batches of 256)")
    results["scoring_ceiling_events_per_s"] = scoring_ceiling(texts, 256)
    say("chatguard worker on the backlog")
    results["chatguard"] = run_chatguard(settings, env, args.events, "cg")
    say("chatguard worker with CHATGUARD_INGEST=faust (the Faust agent) on a copy of the backlog")
    faust_env = {**env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}faust.", "CHATGUARD_INGEST": "faust"}
    faust_settings = Settings.from_env(faust_env)
    asyncio.run(ensure_topics(faust_settings))
    asyncio.run(send_events(faust_settings, events))
    results["chatguard_faust_ingest"] = run_chatguard(faust_settings, faust_env, args.events, "cgf")
    if args.rules_terms:
        results["rules"] = rules_pairs(run_id, env, events, args)
    say("chatguard worker with CHATGUARD_INGEST=rdkafka (confluent-kafka) on a copy of the backlog")
    rd_env = {**env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}rd.", "CHATGUARD_INGEST": "rdkafka"}
    rd_settings = Settings.from_env(rd_env)
    asyncio.run(ensure_topics(rd_settings))
    asyncio.run(send_events(rd_settings, events))
    results["chatguard_rdkafka"] = run_chatguard(rd_settings, rd_env, args.events, "cgrd")
    say("hand-written aiokafka baseline on the same backlog")
    results["baseline"] = run_baseline(settings, env, args.events, "base", score=True)
    say("hand-written confluent-kafka baseline on the same backlog")
    results["baseline_confluent"] = run_baseline(
        settings, env, args.events, "basecf", score=True, client="confluent"
    )
    say("consume + produce only (no scoring)")
    results["client_ceiling"] = run_baseline(settings, env, args.events, "noscore", score=False)
    results["client_ceiling_confluent"] = run_baseline(
        settings, env, args.events, "noscorecf", score=False, client="confluent"
    )
    best_loop = max(
        results["baseline"]["events_per_s"], results["baseline_confluent"]["events_per_s"]
    )
    results["ratio_chatguard_to_baseline"] = results["chatguard"]["events_per_s"] / best_loop
    results["ratio_chatguard_to_scoring"] = (
        results["chatguard"]["events_per_s"] / results["scoring_ceiling_events_per_s"]
    )
    if args.fleet:
        for workers in (1, 2):
            say(
                f"{workers} chatguard worker(s) in one group, events produced once they are assigned"
            )
            fleet_env = {**env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}fleet{workers}."}
            fleet_settings = Settings.from_env(fleet_env)
            asyncio.run(ensure_topics(fleet_settings))
            results[f"fleet_{workers}"] = run_fleet(
                fleet_settings, fleet_env, events, workers, f"fleet{workers}"
            )
        results["ratio_two_workers_to_one"] = (
            results["fleet_2"]["events_per_s"] / results["fleet_1"]["events_per_s"]
        )
    half = round(results["chatguard"]["events_per_s"] / 2)
    say(f"latency at half the measured maximum: {half} events/s for {args.latency_seconds:.0f}s")
    lat_settings = Settings.from_env(env, topic_prefix=f"{run_id}lat.")
    lat_env = {**env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}lat."}
    results["latency"] = latency(
        lat_settings, lat_env, half, args.latency_seconds, args.warmup_seconds
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(results, indent=2))
    c, f, b, n, lat = (
        results["chatguard"],
        results["chatguard_faust_ingest"],
        results["baseline"],
        results["client_ceiling"],
        results["latency"],
    )
    print(
        f"\nStream benchmark: {args.events} events, {args.partitions} partitions, {os.cpu_count()} cores, broker on the same machine"
    )
    print(
        f"text length: median {results['text_chars']['median']:.0f}, p95 {results['text_chars']['p95']:.0f}, max {results['text_chars']['max']} chars\n"
    )
    print("| measure | events/s | peak RSS MB |")
    print("|---|---|---|")
    print(
        f"| model scoring alone, in process (batches of 256) | {results['scoring_ceiling_events_per_s']:,.0f} | |"
    )
    print(
        f"| consume + produce only, no scoring (client ceiling) | {n['events_per_s']:,.0f} | {n['peak_rss_mb']:.0f} |"
    )
    cf, ncf, rd = (
        results["baseline_confluent"],
        results["client_ceiling_confluent"],
        results["chatguard_rdkafka"],
    )
    print(
        f"| consume + produce only, no scoring (confluent-kafka) | {ncf['events_per_s']:,.0f} | {ncf['peak_rss_mb']:.0f} |"
    )
    print(f"| hand-written aiokafka baseline | {b['events_per_s']:,.0f} | {b['peak_rss_mb']:.0f} |")
    print(
        f"| hand-written confluent-kafka baseline | {cf['events_per_s']:,.0f} | {cf['peak_rss_mb']:.0f} |"
    )
    print(
        f"| chatguard worker, confluent-kafka ingest (CHATGUARD_INGEST=rdkafka) | {rd['events_per_s']:,.0f} | {rd['peak_rss_mb']:.0f} |"
    )
    print(
        f"| chatguard worker, Faust agent ingest (CHATGUARD_INGEST=faust) | {f['events_per_s']:,.0f} | {f['peak_rss_mb']:.0f} |"
    )
    print(
        f"| **chatguard worker** (batch ingest, the default) | **{c['events_per_s']:,.0f}** | {c['peak_rss_mb']:.0f} |"
    )
    print(
        f"| chatguard / best hand-written loop | {results['ratio_chatguard_to_baseline']:.2f}x | |"
    )
    print(f"| chatguard / scoring ceiling | {results['ratio_chatguard_to_scoring']:.2f}x | |")
    print(
        f"| chatguard rdkafka / best hand-written loop | {rd['events_per_s'] / max(b['events_per_s'], cf['events_per_s']):.2f}x | |"
    )
    if args.fleet:
        f1, f2 = results["fleet_1"], results["fleet_2"]
        print(
            f"| one worker, events produced after assignment | {f1['events_per_s']:,.0f} | {f1['peak_rss_mb']:.0f} |"
        )
        print(
            f"| two workers, same group, same events | {f2['events_per_s']:,.0f} | {f2['peak_rss_mb']:.0f} |"
        )
        print(f"| two workers / one | {results['ratio_two_workers_to_one']:.2f}x | |")
    if "rules" in results:
        r = results["rules"]
        print(
            f"| chatguard worker without rules, paired runs | "
            f"{' / '.join(f'{x:,.0f}' for x in r['without_events_per_s'])} | |"
        )
        print(
            f"| chatguard worker with {r['terms']:,} rule terms + {r['domains']:,} domains, "
            f"paired runs | {' / '.join(f'{x:,.0f}' for x in r['with_events_per_s'])} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
        print(
            f"| with rules / without, per pair (median) | "
            f"{', '.join(f'{x:.2f}x' for x in r['ratios'])} ({r['median_ratio']:.2f}x) | |"
        )
    print(
        f"\nlatency at {lat['offered_events_per_s']:,.0f} events/s (half of max), {lat['measured_events']} events "
        f"after {lat['warmup_s']:.0f} s of warm-up (warm-up p99 {lat['warmup_p99_ms']:.0f} ms): "
        f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms; "
        f"worker peak RSS {lat['peak_rss_mb']:.0f} MB"
    )
    print("p99 by tenth of the run (ms): " + ", ".join(f"{v:.0f}" for v in lat["p99_by_tenth_ms"]))
    print(f"\nJSON: {RESULTS / 'stream.json'}")


if __name__ == "__main__":
    main()
