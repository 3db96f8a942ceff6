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
  * chatguard with campaign detection on (``CHATGUARD_CAMPAIGNS=on``) on a copy of the backlog,
    then, after its campaign fold had up to ``--campaign-fold-seconds`` to fold the
    fingerprints, the campaign state it holds per 1M events; its latency at half the default
    row's maximum and at half its own (``--no-campaigns`` skips it),
  * the rules' cost as a throughput ratio: paired runs of chatguard on fresh copies of the backlog,
    without rules and with a file of 100,000 terms and 10,000 domains published (signed) to its
    rules topic before it starts, in alternating order (``--rules-terms``, ``--rules-pairs``),
  * chatguard's default row and both hand-written loops in alternating rounds (``--rounds``), each
    on a fresh copy of the backlog, after one unmeasured pass of each warmed the fresh broker; the
    ratio to the best loop is the median of the rounds' ratios,
  * end-to-end latency (produce timestamp → decision timestamp) at half chatguard's maximum rate,
    after a warm-up whose p99 is reported separately; and, at the same rate and on the same
    machine, the latency of the hand-written aiokafka and confluent-kafka loops, the floor a
    consume → score → produce loop sets here,
  * each row's CPU time per event and the broker's (``benchmarks/cpu_meter.py``), and what the
    machine's cores carry at those costs against issue 17's two-worker target.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from rocksdict import AccessType, Options, Rdict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from big_rules import rules_text  # noqa: E402  (benchmarks/, the script's folder)
from cpu_meter import CpuMeter, per_event_us, process_tree  # noqa: E402

from chatguard.cli import main as chatguard  # noqa: E402
from chatguard.settings import Settings  # noqa: E402
from devtools.broker import LocalBroker  # noqa: E402
from devtools.produce import build_events  # noqa: E402
from models.errors import SignatureInvalid, SignatureMissing  # noqa: E402
from models.registry import ModelRegistry  # noqa: E402
from models.signing import generate, load_private_key, load_public_key  # noqa: E402
from streams.campaign_fold import STATE  # noqa: E402
from streams.kafka_options import connection as client_options  # noqa: E402
from streams.outgoing import send_events  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REGISTRY = ROOT / ".run" / "bench-registry"
BENCH_KEYS = ROOT / ".run" / "bench-keys"
# the benchmark's broker, whose CPU time each row also measures (set by ``main``)
BROKER_PIDS: list[int] = []


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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_busy_jiffies() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU since boot, from ``/proc/stat``."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def tree_memory_mb(pid: int) -> dict[str, float]:
    """Memory of a worker with its processes: peak RSS summed (pages the scoring child shares
    with its fork server counted in each) and PSS now (a shared page split between its users)."""
    peak = pss = 0.0
    processes = 0
    for member in process_tree(pid):
        try:
            peak += peak_rss_mb(member)
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
            processes += 1
        except OSError:
            continue
    return {"tree_peak_rss_sum_mb": peak, "tree_pss_mb": pss, "tree_processes": processes}


def state_gauges(port: int) -> dict[str, dict[str, float]]:
    """store → {"entries", "bytes"} from the worker's ``chatguard_state_*`` gauges."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("chatguard_state_"):
            for sample in family.samples:
                name = family.name.removeprefix("chatguard_state_")
                found.setdefault(sample.labels["store"], {})[name] = sample.value
    return found


async def fold_progress(settings: Settings, group: str) -> tuple[int, int]:
    """(records of ``campaign.fingerprints`` the worker's campaign fold committed, records on
    the topic)."""
    topic = settings.topic("campaign.fingerprints")
    admin = AIOKafkaAdminClient(**client_options(settings))
    consumer = AIOKafkaConsumer(**client_options(settings))
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        await consumer._client.force_metadata_update()  # as in read_all
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        done = sum(meta.offset for tp, meta in committed.items() if tp.topic == topic)
        return done, sum(ends.values())
    finally:
        await consumer.stop()
        await admin.close()


def store_contents(path: Path) -> dict[str, int]:
    """Exact entries and key + value bytes of the campaign fold's store at ``path`` (read
    after the worker stopped), and its size on disk."""
    entries = logical = on_disk = 0
    if path.exists():
        on_disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                # raw mode: bytes; the next-offset keys are bookkeeping, not state
                if isinstance(key, bytes) and isinstance(value, bytes) and key[:1] == STATE:
                    entries += 1
                    logical += len(key) + len(value)
        finally:
            db.close()
    return {"entries": entries, "key_value_bytes": logical, "disk_bytes": on_disk}


def topic_disk_bytes(broker_data: Path, topic: str) -> int:
    """Bytes of ``topic``'s partition logs on the local broker's disk."""
    return sum(
        f.stat().st_size
        for path in broker_data.glob(f"{topic}-*")
        if path.name.rsplit("-", 1)[-1].isdigit()
        for f in path.iterdir()
        if f.suffix == ".log"
    )


def wait_ready(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120
) -> None:
    """Until the worker's ``/ready`` answers 200."""

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(ready, process, log, timeout)


def wait_for_file(
    path: Path, process: subprocess.Popen[bytes], log: Path, timeout: float = 120
) -> None:
    """Until ``process`` creates ``path`` (a hand-written loop holds its partitions)."""
    wait_until(path.exists, process, log, timeout)


def wait_until(
    check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    """Poll ``check`` until it holds; fail with the log's tail if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited:\n{log.read_text()[-3000:]}")
        if check():
            return
        time.sleep(0.3)
    raise RuntimeError(f"not ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def run_chatguard(
    settings: Settings,
    env: dict[str, str],
    n: int,
    tag: str,
    after: Callable[[int, int], dict[str, Any]] | None = None,
    companion: list[str] | None = None,
) -> dict[str, Any]:
    """One worker on the backlog; ``after(port, pid)``, if given, runs once every outcome is
    out and before the worker stops, and its dict joins the result. ``companion``: a command
    run beside the worker with its environment (the campaign fold in a process of its own)."""
    port = free_port()
    log = ROOT / ".run" / f"bench-{tag}.log"
    worker_env = {
        **env,
        "CHATGUARD_APP_ID": f"{settings.app_id}-{tag}",
        "CHATGUARD_WEB_PORT": str(port),
        "CHATGUARD_DATA_DIR": str(ROOT / ".run" / f"bench-{tag}"),
    }
    beside = start_companion(companion, worker_env, tag)
    process = start_process(
        [sys.executable, "-m", "streams", "worker", "-l", "warn"], worker_env, log
    )
    try:
        wait_ready(port, process, log)
        ready_rss = rss_mb(process.pid)
        meter = cpu_meter([process.pid] + ([beside.pid] if beside is not None else []))
        outputs = [settings.topic("moderation.decisions"), settings.topic("moderation.deadletter")]
        records = asyncio.run(read_all(settings, outputs, n, timeout=600))
        meter.stop()
        result: dict[str, Any] = {
            "events_per_s": throughput(records),
            "cpu_us_per_event": per_event_us(meter, [r.timestamp for r in records]),
            "outcomes": len(records),
            "rss_at_ready_mb": ready_rss,
            "rss_after_backlog_mb": rss_mb(process.pid),
        }
        if after is not None:
            result.update(after(port, process.pid))
        result["peak_rss_mb"] = peak_rss_mb(process.pid)
        result.update(tree_memory_mb(process.pid))
        if beside is not None:
            result["companion_peak_rss_mb"] = peak_rss_mb(beside.pid)
        return result
    finally:
        stop(process)
        if beside is not None:
            stop(beside)


def start_companion(
    command: list[str] | None, env: dict[str, str], tag: str
) -> subprocess.Popen[bytes] | None:
    if command is None:
        return None
    return start_process(command, env, ROOT / ".run" / f"bench-{tag}-companion.log")


def campaign_state(
    settings: Settings, group: str, fold_seconds: float
) -> Callable[[int, int], dict[str, Any]]:
    """Give the worker's campaign fold up to ``fold_seconds`` to fold the fingerprints the
    backlog produced (until its group has committed them all), then read what it folded, its
    state gauges and its RSS."""

    def measure(port: int, pid: int) -> dict[str, Any]:
        started = time.monotonic()
        folded, written = asyncio.run(fold_progress(settings, group))
        while folded < written and time.monotonic() - started < fold_seconds:
            time.sleep(2)  # polling the group's committed offsets
            folded, written = asyncio.run(fold_progress(settings, group))
        return {
            "fingerprint_records": written,
            "fingerprint_records_folded": folded,
            "fold_seconds": time.monotonic() - started,
            "state_gauges": state_gauges(port),
            "rss_after_fold_mb": rss_mb(pid),
        }

    return measure


def run_fleet(
    settings: Settings, env: dict[str, str], events: list[Any], workers: int, tag: str
) -> dict[str, Any]:
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
        meter = cpu_meter([process.pid for process, _, _ in processes])
        asyncio.run(send_events(settings, events))
        outputs = [settings.topic("moderation.decisions"), settings.topic("moderation.deadletter")]
        records = asyncio.run(read_all(settings, outputs, len(events), timeout=600))
        meter.stop()
        return {
            "workers": workers,
            "events_per_s": throughput(records),
            "cpu_us_per_event": per_event_us(meter, [r.timestamp for r in records]),
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
) -> dict[str, Any]:
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
    meter = cpu_meter([process.pid])
    try:
        outputs = [output_prefix + "moderation.decisions", output_prefix + "moderation.deadletter"]
        asyncio.run(
            ensure_topics(
                Settings.from_env(env, topic_prefix=output_prefix),
                ["moderation.decisions", "moderation.deadletter"],
            )
        )
        records = asyncio.run(read_all(settings, outputs, n, timeout=600))
        meter.stop()
        return {
            "events_per_s": throughput(records),
            "cpu_us_per_event": per_event_us(meter, [r.timestamp for r in records]),
            "outcomes": len(records),
            "peak_rss_mb": peak_rss_mb(process.pid),
        }
    finally:
        stop(process)


def scoring_ceiling(texts: list[str], batch: int) -> tuple[float, float]:
    """Events per second of wall time, and CPU microseconds per event (the two differ if
    scoring ever used more than one core)."""
    model = ModelRegistry(REGISTRY).load_current()
    model.score(texts[:batch])  # warm up
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), batch):
        model.score(texts[i : i + batch])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(texts) / wall, cpu * 1e6 / len(texts)


def cpu_meter(worker_pids: list[int]) -> CpuMeter:
    """A started meter of a row's processes (with their children) and of the broker."""
    return CpuMeter({"worker": worker_pids, "broker": BROKER_PIDS}).start()


def latency(
    settings: Settings,
    env: dict[str, str],
    rate: float,
    seconds: float,
    warmup: float,
    tag: str = "lat",
    companion: list[str] | None = None,
    baseline: str | None = None,
) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``warmup + seconds``; statistics cover the last ``seconds``.
    ``baseline`` (``aiokafka`` or ``confluent``): measure that hand-written loop instead of a
    chatguard worker.

    The first seconds after a worker reports ready include Faust's own start-up (table
    recovery, its group's rebalance) in the same process; they are reported separately."""
    port = free_port()
    log = ROOT / ".run" / f"bench-{tag}.log"
    worker_env = {
        **env,
        "CHATGUARD_APP_ID": f"{settings.app_id}-{tag}",
        "CHATGUARD_WEB_PORT": str(port),
        "CHATGUARD_DATA_DIR": str(ROOT / ".run" / f"bench-{tag}"),
    }
    asyncio.run(ensure_topics(settings))
    beside = start_companion(companion, worker_env, tag)
    out_prefix = settings.topic_prefix if baseline is None else f"{settings.topic_prefix}{tag}."
    outputs = [out_prefix + "moderation.decisions", out_prefix + "moderation.deadletter"]
    if baseline is None:
        process = start_process(
            [sys.executable, "-m", "streams", "worker", "-l", "warn"], worker_env, log
        )
    else:
        asyncio.run(
            ensure_topics(
                Settings.from_env(env, topic_prefix=out_prefix),
                ["moderation.decisions", "moderation.deadletter"],
            )
        )
        ready = ROOT / ".run" / f"bench-{tag}.ready"
        ready.unlink(missing_ok=True)
        command = [
            sys.executable,
            str(ROOT / "benchmarks" / "baseline_worker.py"),
            *("--output-prefix", out_prefix, "--client", baseline, "--idle-exit", "30"),
            *("--ready-file", str(ready)),
        ]
        process = start_process(command, worker_env, log)
    try:
        if baseline is None:
            wait_ready(port, process, log)
        else:
            wait_for_file(ready, process, log)
        events = build_events(int(rate * (warmup + seconds)), malformed_share=0.03, seed=2)
        # how busy the whole machine is while the load is offered: the load generator, the
        # broker and the worker share its cores, and near all of them busy the p99 is a queue's
        busy_before, all_before = machine_busy_jiffies()
        asyncio.run(send_events(settings, events, rate=rate))
        busy_after, all_after = machine_busy_jiffies()
        cores = os.cpu_count() or 1
        busy_cores = cores * (busy_after - busy_before) / max(1, all_after - all_before)
        inputs = [settings.topic("chat.messages"), settings.topic("posts")]
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
            "machine_busy_cores": busy_cores,
            "machine_cores": cores,
            "peak_rss_mb": peak_rss_mb(process.pid),
        }
    finally:
        stop(process)
        if beside is not None:
            stop(beside)


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
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds of chatguard and the hand-written loops (median ratio)",
    )
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running")
    parser.add_argument(
        "--no-fleet", dest="fleet", action="store_false", help="skip the one/two worker rows"
    )
    parser.add_argument(
        "--no-campaigns",
        dest="campaigns",
        action="store_false",
        help="skip the rows with campaign detection on (CHATGUARD_CAMPAIGNS=on)",
    )
    parser.add_argument(
        "--campaign-fold-seconds",
        type=float,
        default=15.0,
        help="at most this long for the campaign agent to fold the backlog's fingerprints",
    )
    args = parser.parse_args()
    # fresh topics answer "not leader" for a moment after creation; aiokafka retries, and its
    # retry warnings would bury the figures
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    # a broker of its own with empty storage: a development broker holding thousands of test
    # topics makes every client metadata refresh (and so every worker) measurably slower
    broker = LocalBroker(port=args.port, data_dir=broker_dir(args.port))
    if broker.pid() is not None:
        broker.stop(quiet=True)
    assert broker.data_dir is not None
    shutil.rmtree(broker.data_dir, ignore_errors=True)
    broker.start()
    BROKER_PIDS[:] = [pid] if (pid := broker.pid()) is not None else []
    try:
        run(args)
    finally:
        if not args.keep_broker:
            broker.stop()


def broker_dir(port: int) -> Path:
    """The benchmark broker's folder (its partition logs are under ``data/``)."""
    return ROOT / ".run" / f"kafka-bench-{port}"


FOLD_ALONE = [sys.executable, "-m", "streams", "campaign-fold"]
SEPARATE = {"CHATGUARD_CAMPAIGN_FOLD": "separate"}


def campaigns_row(
    run_id: str,
    env: dict[str, str],
    events: list[Any],
    args: argparse.Namespace,
    separate: bool = False,
) -> dict[str, Any]:
    """chatguard with campaign detection on, on a copy of the backlog, measured like the
    default row; then the campaign state it holds: counted in its store after it stopped, on
    the broker's disk (its log), as its gauges report it, and as RSS growth. ``separate``: the
    fold in a process of its own beside the worker (``CHATGUARD_CAMPAIGN_FOLD=separate``)."""
    tag = "cgs" if separate else "cgc"
    camp_env = {
        **env,
        "CHATGUARD_TOPIC_PREFIX": f"{run_id}{tag}.",
        "CHATGUARD_CAMPAIGNS": "on",
        **(SEPARATE if separate else {}),
    }
    camp_settings = Settings.from_env(camp_env)
    asyncio.run(ensure_topics(camp_settings))
    asyncio.run(send_events(camp_settings, events))
    app_id = f"{camp_settings.app_id}-{tag}"
    fold = campaign_state(camp_settings, f"{app_id}.campaigns", args.campaign_fold_seconds)
    result = run_chatguard(
        camp_settings,
        camp_env,
        args.events,
        tag,
        after=fold,
        companion=FOLD_ALONE if separate else None,
    )
    result["store"] = store_contents(ROOT / ".run" / f"bench-{tag}" / f"{app_id}-campaign-bands")
    fingerprints = camp_settings.topic("campaign.fingerprints")
    result["log_disk_bytes"] = topic_disk_bytes(broker_dir(args.port) / "data", fingerprints)
    return result


def per_million_events(
    campaigns: dict[str, Any], default: dict[str, Any], events: int
) -> dict[str, Any]:
    """The campaign state per 1M events in the window, scaled linearly from the events whose
    fingerprints the agent folded (each fingerprinted event writes one record per band). RSS
    is not scaled, nor are the store's files and the gauge's bytes: at this size RocksDB's
    files, memtable arenas and a worker's buffers are mostly fixed costs."""
    written, folded = campaigns["fingerprint_records"], campaigns["fingerprint_records_folded"]
    folded_events = folded * events / written if written else 0.0
    if not folded_events:
        return {"folded_events": 0.0}
    scale = 1_000_000 / folded_events
    bands = campaigns["state_gauges"].get("campaign-bands", {})
    store = campaigns["store"]
    return {
        "folded_events": folded_events,
        "fingerprint_records_per_event": written / events,
        "entries": store["entries"] * scale,
        "bytes_per_entry": store["key_value_bytes"] / store["entries"] if store["entries"] else 0,
        "key_value_bytes": store["key_value_bytes"] * scale,
        "log_disk_bytes": campaigns["log_disk_bytes"] * scale,
        "store_disk_bytes_unscaled": store["disk_bytes"],
        "gauge_entries_unscaled": bands.get("entries", float("nan")),
        "gauge_bytes_unscaled": bands.get("bytes", float("nan")),
        "rss_over_default_mb": campaigns["rss_after_fold_mb"] - default["rss_after_backlog_mb"],
    }


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


def backlog_copy(
    run_id: str, env: dict[str, str], events: list[Any], tag: str
) -> tuple[Settings, dict[str, str]]:
    """Fresh topics under their own prefix, holding the backlog."""
    copy_env = {**env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}{tag}."}
    copy_settings = Settings.from_env(copy_env)
    asyncio.run(ensure_topics(copy_settings))
    asyncio.run(send_events(copy_settings, events))
    return copy_settings, copy_env


def warm_broker(run_id: str, env: dict[str, str], events: list[Any], n: int) -> None:
    """One unmeasured pass of chatguard and both hand-written loops over a copy of the backlog.

    The broker is started fresh, and its JVM compiles its hot paths during the first minutes of
    traffic: on a cold broker the first row measured paid for it (the broker's CPU per event fell
    by half over its first four runs of 30,000 events), and that row was chatguard's."""
    say("warming the broker: chatguard and both loops once on a copy of the backlog, unmeasured")
    warm_settings, warm_env = backlog_copy(run_id, env, events, "warm")
    run_chatguard(warm_settings, warm_env, n, "warm")
    run_baseline(warm_settings, warm_env, n, "warmb", score=True)
    run_baseline(warm_settings, warm_env, n, "warmc", score=True, client="confluent")


def one_round(
    settings: Settings, env: dict[str, str], n: int, number: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """chatguard's row and both loops' on one backlog: chatguard first in even rounds."""
    rows: dict[str, Any] = {}
    order = ["chatguard", "aiokafka", "confluent"]
    for row in order if number % 2 == 0 else order[::-1]:
        if row == "chatguard":
            rows[row] = run_chatguard(settings, env, n, f"cg{number}")
        else:
            tag = f"base{number}" if row == "aiokafka" else f"basecf{number}"
            rows[row] = run_baseline(settings, env, n, tag, score=True, client=row)
    return rows["chatguard"], rows["aiokafka"], rows["confluent"]


def alternating_rounds(
    run_id: str,
    settings: Settings,
    env: dict[str, str],
    events: list[Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """chatguard and the two hand-written loops in ``args.rounds`` rounds, each on a fresh copy of
    the backlog (the first on the backlog itself), chatguard first in even rounds and last in
    odd ones, so that a drift in the machine's or the broker's speed does not read as a
    difference between them. The ratio is taken within each round; the headline is the median
    of the rounds' ratios, and the rows are the rounds whose rates are the medians."""
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        round_settings, round_env = (
            (settings, env) if number == 0 else backlog_copy(run_id, env, events, f"r{number}")
        )
        say(f"round {number + 1} of {args.rounds}: chatguard worker and both hand-written loops")
        worker, aio, confluent = one_round(round_settings, round_env, args.events, number)
        best = max(aio["events_per_s"], confluent["events_per_s"])
        rounds.append(
            {
                "chatguard_first": number % 2 == 0,
                "chatguard": worker,
                "baseline": aio,
                "baseline_confluent": confluent,
                "ratio": worker["events_per_s"] / best,
            }
        )

    def median_row(key: str) -> Any:
        ordered = sorted(rounds, key=lambda r: r[key]["events_per_s"])
        return ordered[(len(ordered) - 1) // 2][key]

    return {
        "rounds": rounds,
        "chatguard": median_row("chatguard"),
        "baseline": median_row("baseline"),
        "baseline_confluent": median_row("baseline_confluent"),
        "ratio_chatguard_to_baseline": float(np.median([r["ratio"] for r in rounds])),
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
    (
        results["scoring_ceiling_events_per_s"],
        results["scoring_ceiling_cpu_us_per_event"],
    ) = scoring_ceiling(texts, 256)
    warm_broker(run_id, env, events, args.events)
    results.update(alternating_rounds(run_id, settings, env, events, args))
    if args.campaigns:
        say("chatguard worker with CHATGUARD_CAMPAIGNS=on on a copy of the backlog")
        results["chatguard_campaigns"] = campaigns_row(run_id, env, events, args)
        results["campaign_state_per_million_events"] = per_million_events(
            results["chatguard_campaigns"], results["chatguard"], args.events
        )
        say(
            "the same with the campaign fold in a process of its own (CHATGUARD_CAMPAIGN_FOLD=separate)"
        )
        results["chatguard_campaigns_separate"] = campaigns_row(
            run_id, env, events, args, separate=True
        )
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
    say("consume + produce only (no scoring)")
    results["client_ceiling"] = run_baseline(settings, env, args.events, "noscore", score=False)
    results["client_ceiling_confluent"] = run_baseline(
        settings, env, args.events, "noscorecf", score=False, client="confluent"
    )
    best_loop = max(
        results["baseline"]["events_per_s"], results["baseline_confluent"]["events_per_s"]
    )
    results["ratio_chatguard_to_scoring"] = (
        results["chatguard"]["events_per_s"] / results["scoring_ceiling_events_per_s"]
    )
    if args.campaigns:
        campaigns_rate = results["chatguard_campaigns"]["events_per_s"]
        results["ratio_campaigns_to_baseline"] = campaigns_rate / best_loop
        results["ratio_campaigns_to_chatguard"] = (
            campaigns_rate / results["chatguard"]["events_per_s"]
        )
        separate_rate = results["chatguard_campaigns_separate"]["events_per_s"]
        results["ratio_campaigns_separate_to_baseline"] = separate_rate / best_loop
        results["ratio_campaigns_separate_to_chatguard"] = (
            separate_rate / results["chatguard"]["events_per_s"]
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
    for client in ("aiokafka", "confluent"):
        say(f"latency of the hand-written {client} loop at the same {half} events/s")
        base_prefix = f"{run_id}latb{client[0]}."
        base_env = {**env, "CHATGUARD_TOPIC_PREFIX": base_prefix}
        results[f"latency_baseline_{client}"] = latency(
            Settings.from_env(base_env),
            base_env,
            half,
            args.latency_seconds,
            args.warmup_seconds,
            tag=f"latb{client[0]}",
            baseline=client,
        )
    if args.campaigns:
        say(f"latency with CHATGUARD_CAMPAIGNS=on at the same {half} events/s")
        camp_lat_env = {
            **env,
            "CHATGUARD_TOPIC_PREFIX": f"{run_id}latc.",
            "CHATGUARD_CAMPAIGNS": "on",
        }
        results["latency_campaigns"] = latency(
            Settings.from_env(camp_lat_env),
            camp_lat_env,
            half,
            args.latency_seconds,
            args.warmup_seconds,
            tag="latc",
        )
        say(f"latency with the campaign fold in a process of its own at the same {half} events/s")
        sep_lat_env = {**camp_lat_env, "CHATGUARD_TOPIC_PREFIX": f"{run_id}lats.", **SEPARATE}
        results["latency_campaigns_separate"] = latency(
            Settings.from_env(sep_lat_env),
            sep_lat_env,
            half,
            args.latency_seconds,
            args.warmup_seconds,
            tag="lats",
            companion=FOLD_ALONE,
        )
        # and each at half of its own maximum, which is what it can be asked to carry
        for key, row, tag, separate in (
            ("latency_campaigns_own_half", "chatguard_campaigns", "latco", False),
            ("latency_campaigns_separate_own_half", "chatguard_campaigns_separate", "latso", True),
        ):
            own_half = round(results[row]["events_per_s"] / 2)
            say(f"latency of {row} at half its own maximum: {own_half} events/s")
            own_env = {
                **camp_lat_env,
                "CHATGUARD_TOPIC_PREFIX": f"{run_id}{tag}.",
                **(SEPARATE if separate else {}),
            }
            results[key] = latency(
                Settings.from_env(own_env),
                own_env,
                own_half,
                args.latency_seconds,
                args.warmup_seconds,
                tag=tag,
                companion=FOLD_ALONE if separate else None,
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
    print(
        f"| hand-written aiokafka baseline (median round) | {b['events_per_s']:,.0f} | {b['peak_rss_mb']:.0f} |"
    )
    print(
        f"| hand-written confluent-kafka baseline (median round) | {cf['events_per_s']:,.0f} | {cf['peak_rss_mb']:.0f} |"
    )
    print(
        f"| chatguard worker, confluent-kafka ingest (CHATGUARD_INGEST=rdkafka) | {rd['events_per_s']:,.0f} | {rd['peak_rss_mb']:.0f} |"
    )
    print(
        f"| chatguard worker, Faust agent ingest (CHATGUARD_INGEST=faust) | {f['events_per_s']:,.0f} | {f['peak_rss_mb']:.0f} |"
    )
    print(
        f"| **chatguard worker** (batch ingest, the default; median round) | **{c['events_per_s']:,.0f}** | {c['peak_rss_mb']:.0f} |"
    )
    if args.campaigns:
        cc = results["chatguard_campaigns"]
        print(
            f"| chatguard worker, campaigns on (CHATGUARD_CAMPAIGNS=on) | {cc['events_per_s']:,.0f} | {cc['peak_rss_mb']:.0f} |"
        )
        cs = results["chatguard_campaigns_separate"]
        print(
            f"| chatguard worker, campaigns on, fold in a process of its own | {cs['events_per_s']:,.0f} | "
            f"{cs['peak_rss_mb']:.0f} + {cs['companion_peak_rss_mb']:.0f} |"
        )
    print(
        f"| chatguard / best hand-written loop (median of the rounds' ratios) | {results['ratio_chatguard_to_baseline']:.2f}x | |"
    )
    if args.campaigns:
        print(
            f"| chatguard, campaigns on / best hand-written loop | {results['ratio_campaigns_to_baseline']:.2f}x | |"
        )
        print(
            f"| chatguard, campaigns on / chatguard | {results['ratio_campaigns_to_chatguard']:.2f}x | |"
        )
        print(
            f"| chatguard, campaigns on, fold apart / best hand-written loop | {results['ratio_campaigns_separate_to_baseline']:.2f}x | |"
        )
        print(
            f"| chatguard, campaigns on, fold apart / chatguard | {results['ratio_campaigns_separate_to_chatguard']:.2f}x | |"
        )
    print(f"| chatguard / scoring ceiling | {results['ratio_chatguard_to_scoring']:.2f}x | |")
    print(
        f"| chatguard worker with its {c['tree_processes']} processes: peak RSS summed / PSS "
        f"after the backlog | | {c['tree_peak_rss_sum_mb']:.0f} / {c['tree_pss_mb']:.0f} |"
    )
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
        "\n| round | order | chatguard worker | aiokafka loop | confluent-kafka loop | chatguard / best loop |"
    )
    print("|---|---|---|---|---|---|")
    for number, r in enumerate(results["rounds"], start=1):
        order = "chatguard first" if r["chatguard_first"] else "loops first"
        print(
            f"| {number} | {order} | {r['chatguard']['events_per_s']:,.0f} | "
            f"{r['baseline']['events_per_s']:,.0f} | {r['baseline_confluent']['events_per_s']:,.0f} | "
            f"{r['ratio']:.2f}x |"
        )
    print(
        f"\nlatency at {lat['offered_events_per_s']:,.0f} events/s (half of max), {lat['measured_events']} events "
        f"after {lat['warmup_s']:.0f} s of warm-up (warm-up p99 {lat['warmup_p99_ms']:.0f} ms): "
        f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms; "
        f"worker peak RSS {lat['peak_rss_mb']:.0f} MB; the machine busy "
        f"{lat['machine_busy_cores']:.2f} of its {lat['machine_cores']} cores while the load was offered"
    )
    print("p99 by tenth of the run (ms): " + ", ".join(f"{v:.0f}" for v in lat["p99_by_tenth_ms"]))
    for client in ("aiokafka", "confluent"):
        loop = results[f"latency_baseline_{client}"]
        print(
            f"the hand-written {client} loop at the same rate: p50 {loop['p50_ms']:.0f} ms, "
            f"p95 {loop['p95_ms']:.0f} ms, p99 {loop['p99_ms']:.0f} ms, max {loop['max_ms']:.0f} ms, "
            f"machine busy {loop['machine_busy_cores']:.2f} cores "
            f"(chatguard's p99 is {lat['p99_ms'] / loop['p99_ms']:.2f}x it)"
        )
    print_cpu(results, args)
    if args.campaigns:
        print_campaigns(results)
    print(f"\nJSON: {RESULTS / 'stream.json'}")


def print_cpu(results: dict[str, Any], args: argparse.Namespace) -> None:
    """CPU per event of each row and of the broker, and what the machine's cores allow: issue
    17 asks for one worker at >= 0.8x the scoring ceiling and two at >= 1.5x one, so two
    workers at >= 1.2x the ceiling, and that is a number of core-seconds per second."""
    rows = [
        ("consume + produce only, aiokafka", results["client_ceiling"]),
        ("consume + produce only, confluent-kafka", results["client_ceiling_confluent"]),
        ("hand-written aiokafka loop (median round)", results["baseline"]),
        ("hand-written confluent-kafka loop (median round)", results["baseline_confluent"]),
        ("chatguard worker (median round)", results["chatguard"]),
        ("chatguard worker, confluent-kafka ingest", results["chatguard_rdkafka"]),
    ]
    if args.fleet:
        rows += [("one worker (fleet row)", results["fleet_1"])]
        rows += [("two workers, summed (fleet row)", results["fleet_2"])]
    cores = os.cpu_count() or 1
    print(
        f"\nCPU per event, core-microseconds over each row's measured span ({cores} cores; "
        "worker = the row's processes with their children)"
    )
    print("| row | events/s | worker µs | broker µs | total µs | cores busy |")
    print("|---|---|---|---|---|---|")
    ceiling = results["scoring_ceiling_events_per_s"]
    scoring_us = results["scoring_ceiling_cpu_us_per_event"]
    print(f"| model scoring alone, in process | {ceiling:,.0f} | {scoring_us:.1f} | | | |")
    for name, row in rows:
        cpu = row["cpu_us_per_event"]
        total = cpu["worker"] + cpu["broker"]
        busy = total * row["events_per_s"] / 1e6
        print(
            f"| {name} | {row['events_per_s']:,.0f} | {cpu['worker']:.1f} | {cpu['broker']:.1f} "
            f"| {total:.1f} | {busy:.2f} |"
        )
    need = 1.2 * ceiling
    print(
        f"two workers at >= 1.5x one worker at >= 0.8x the scoring ceiling: >= {need:,.0f} "
        f"events/s (1.2x the ceiling). What the {cores} cores carry at most at each CPU cost per "
        "event (worker + broker):"
    )
    bounds = [
        ("consume + produce only, aiokafka, + scoring", results["client_ceiling"], scoring_us),
        (
            "consume + produce only, confluent-kafka, + scoring",
            results["client_ceiling_confluent"],
            scoring_us,
        ),
        ("chatguard worker (median round)", results["chatguard"], 0.0),
    ]
    for name, row, scoring in bounds:
        cpu = row["cpu_us_per_event"]
        most = cores * 1e6 / (cpu["worker"] + cpu["broker"] + scoring)
        print(f"  {name}: {most:,.0f} events/s, {most / ceiling:.2f}x the ceiling")


def print_campaigns(results: dict[str, Any]) -> None:
    """The campaigns row's latency and the state memory per 1M events in the window."""
    lat, cc = results["latency_campaigns"], results["chatguard_campaigns"]
    print(
        f"\nlatency with campaigns on at {lat['offered_events_per_s']:,.0f} events/s: "
        f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, "
        f"max {lat['max_ms']:.0f} ms (warm-up p99 {lat['warmup_p99_ms']:.0f} ms); "
        f"worker peak RSS {lat['peak_rss_mb']:.0f} MB; the machine busy "
        f"{lat['machine_busy_cores']:.2f} of its {lat['machine_cores']} cores while the load was offered"
    )
    sep = results["latency_campaigns_separate"]
    print(
        f"latency with the fold in a process of its own: p50 {sep['p50_ms']:.0f} ms, "
        f"p95 {sep['p95_ms']:.0f} ms, p99 {sep['p99_ms']:.0f} ms, max {sep['max_ms']:.0f} ms "
        f"(warm-up p99 {sep['warmup_p99_ms']:.0f} ms)"
    )
    for key, what in (
        ("latency_campaigns_own_half", "campaigns on"),
        ("latency_campaigns_separate_own_half", "campaigns on, the fold apart"),
    ):
        own = results[key]
        print(
            f"latency with {what} at half its own maximum, {own['offered_events_per_s']:,.0f} "
            f"events/s: p50 {own['p50_ms']:.0f} ms, p95 {own['p95_ms']:.0f} ms, "
            f"p99 {own['p99_ms']:.0f} ms, max {own['max_ms']:.0f} ms "
            f"(warm-up p99 {own['warmup_p99_ms']:.0f} ms; machine busy "
            f"{own['machine_busy_cores']:.2f} cores)"
        )
    state = results["campaign_state_per_million_events"]
    print(
        f"\ncampaign state: the fold had {cc['fingerprint_records_folded']:,} of "
        f"{cc['fingerprint_records']:,} fingerprint records folded {cc['fold_seconds']:.0f} s "
        f"after the backlog's decisions, i.e. {state['folded_events']:,.0f} events' worth"
    )
    cs = results["chatguard_campaigns_separate"]
    print(
        f"with the fold in a process of its own: {cs['fingerprint_records_folded']:,} of "
        f"{cs['fingerprint_records']:,} folded {cs['fold_seconds']:.0f} s after the decisions"
    )
    if not state["folded_events"]:
        print("state memory per 1M events in the window: not measured (nothing folded)")
        return
    mb = 1 / 1_000_000
    print(
        f"state memory per 1M events in the window ({state['fingerprint_records_per_event']:.2f} "
        f"band records per event of this traffic), scaled from the folded events:\n"
        f"  campaign-bands entries: {state['entries']:,.0f} (counted in the store after the run; "
        f"this traffic repeats its templates, so distinct bands grow slower than events)\n"
        f"  campaign-bands keys + values: {state['key_value_bytes'] * mb:,.0f} MB (counted, "
        f"{state['bytes_per_entry']:,.0f} bytes per entry)\n"
        f"  campaign.fingerprints on the broker's disk (the store's log, kept for "
        f"three windows or a week): {state['log_disk_bytes'] * mb:,.0f} MB\n"
        f"not scaled (mostly fixed costs at this size): the store's RocksDB files on disk "
        f"{state['store_disk_bytes_unscaled'] * mb:,.1f} MB; its gauges "
        f"{state['gauge_entries_unscaled']:,.0f} entries, "
        f"{state['gauge_bytes_unscaled'] * mb:,.1f} MB (live SST + memtables); the worker's RSS "
        f"after folding over the default row's after its backlog {state['rss_over_default_mb']:+,.0f} MB"
    )


if __name__ == "__main__":
    main()
