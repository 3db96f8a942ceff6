"""Prometheus metrics of a worker, served on its web port at ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_IN = Counter(
    "chatguard_events_total", "Events consumed, by input topic.", ["topic"], registry=REGISTRY
)
DECISIONS = Counter(
    "chatguard_decisions_total", "Decisions emitted, by action.", ["action"], registry=REGISTRY
)
TRIGGERED = Counter(
    "chatguard_triggered_total",
    "Categories that triggered a review or block, by category and action.",
    ["category", "action"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "chatguard_dead_letters_total",
    "Events sent to the dead-letter topic, by reason.",
    ["kind"],
    registry=REGISTRY,
)
SCORING_SECONDS = Histogram(
    "chatguard_scoring_seconds",
    "Time to score one batch with the model.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
SCORING_PROCESS_STARTS = Counter(
    "chatguard_scoring_process_starts_total",
    "Scoring child processes started (CHATGUARD_SCORING=process), by cause: start (the first, "
    "or after the worker stopped it), budget (the last one was killed over the scoring budget), "
    "died (the last one exited by itself, e.g. out of memory or a crash), load (the last one "
    "could not take a model version within the load budget).",
    ["cause"],
    registry=REGISTRY,
)
SCORING_IN_THREAD = Counter(
    "chatguard_scoring_in_thread_total",
    "Model versions a scoring process could not take (hung or died loading them), so the "
    "worker scores them in its own process: slower; look at the worker's log.",
    registry=REGISTRY,
)
SCORING_RETRIES = Counter(
    "chatguard_scoring_retries_total",
    "Batches handed to scoring again after it ran short of descriptors or memory, by errno "
    "name (EMFILE, ENOMEM, ...); a batch that fails so on every try is dead-lettered.",
    ["reason"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "chatguard_batch_size",
    "Events per scored batch.",
    buckets=(1, 8, 32, 64, 128, 256, 512, 1024),
    registry=REGISTRY,
)
BATCH_STAGE_SECONDS = Histogram(
    "chatguard_batch_stage_seconds",
    "Time a batch spends in each stage of the ingest path, by stage: fetch (waiting for and "
    "taking records), start (decoding, handing the events to the model), scores (waiting for "
    "the model), decide, send (queueing the records), commit (waiting for delivery, committing "
    "offsets). A stage's time adds to the latency of every event of the batch and of the "
    "events waiting behind it.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
EVENT_LOOP_LAG = Histogram(
    "chatguard_event_loop_lag_seconds",
    "How late the worker's event loop woke a task due every 0.1 s: the time it spent on work "
    "that did not let others run (every batch and agent waits that long).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)

# how often the event loop's lag is sampled (a sleep of this long, and how much later it ended)
LOOP_LAG_EVERY_S = 0.1


async def measure_event_loop_lag() -> None:
    """Observe :data:`EVENT_LOOP_LAG` every :data:`LOOP_LAG_EVERY_S`, until cancelled."""
    while True:
        began = time.monotonic()
        await asyncio.sleep(LOOP_LAG_EVERY_S)
        EVENT_LOOP_LAG.observe(max(0.0, time.monotonic() - began - LOOP_LAG_EVERY_S))


def batch_stage(stage: str) -> Any:
    """A context manager that adds the time spent inside it to ``stage`` of
    :data:`BATCH_STAGE_SECONDS`."""
    return BATCH_STAGE_SECONDS.labels(stage=stage).time()


MODEL_INFO = Gauge(
    "chatguard_model_info",
    "The model version serving decisions (value 1).",
    ["version", "policy_version"],
    registry=REGISTRY,
)
MODEL_RELOADS = Counter(
    "chatguard_model_reloads_total",
    "Model reload attempts, by result.",
    ["result"],
    registry=REGISTRY,
)
MODEL_NORMALIZER_DIFFERS = Gauge(
    "chatguard_model_normalizer_differs",
    "1 while the serving model was trained under another normalizer than this worker's "
    "(it reads texts otherwise than it learned them: retrain it).",
    registry=REGISTRY,
)
MODEL_REFUSED = Gauge(
    "chatguard_model_refused",
    "1 for the promoted version this worker refuses to load (unsigned, bad_signature, "
    "tampered, unloadable) while it keeps serving the previous one.",
    ["version", "reason"],
    registry=REGISTRY,
)
ACCOUNT_ACTIONS = Counter(
    "chatguard_account_actions_total",
    "Account actions emitted, by action.",
    ["action"],
    registry=REGISTRY,
)
LABELS_STORED = Counter(
    "chatguard_labels_stored_total",
    "Moderator labels appended to the label store.",
    registry=REGISTRY,
)
LABELS_REPEATED = Counter(
    "chatguard_labels_repeated_total",
    "Moderator labels not stored because the store holds them already (a signed record sent again).",
    registry=REGISTRY,
)
LABEL_STORE_OK = Gauge(
    "chatguard_label_store_ok",
    "1 while the last append to the label store succeeded, 0 while labels wait in Kafka.",
    registry=REGISTRY,
)
DATA_DISK_OK = Gauge(
    "chatguard_data_disk_ok",
    "1 while the data disk has CHATGUARD_DATA_MIN_FREE_MB free, 0 while stateful agents wait.",
    registry=REGISTRY,
)
LABEL_STORE_ERRORS = Counter(
    "chatguard_label_store_errors_total",
    "Failed appends to the label store (the batch is kept and written again), by errno name.",
    ["reason"],
    registry=REGISTRY,
)
REGISTRY_OK = Gauge(
    "chatguard_registry_ok",
    "1 while the model registry and its CURRENT pointer can be read, else 0 (the loaded model "
    "keeps serving, but a restarted worker could not start).",
    registry=REGISTRY,
)
REGISTRY_PROBLEMS = Counter(
    "chatguard_registry_problems_total",
    "Registry polls that found the registry folder, CURRENT or the current version missing.",
    registry=REGISTRY,
)
MODERATION_BEHIND = Gauge(
    "chatguard_moderation_behind_seconds",
    "How far the fleet's moderation was behind when last measured: the age of the oldest scored "
    "event not yet committed (0 when caught up). Measured only while a report waits for its "
    "event (streams.moderation_progress).",
    registry=REGISTRY,
)
AGENT_LAG = Gauge(
    "chatguard_agent_lag",
    "Records of a partition the worker's Faust agents read (reports, labels, strikes, internal "
    "topics) beyond what its consumer has fetched, read every second: a flood of reports "
    "showed nowhere but in the consumer group's lag (streams.partition_progress.AgentLag).",
    ["topic", "partition"],
    registry=REGISTRY,
)
REPORTS_WAITING = Gauge(
    "chatguard_reports_waiting",
    "Reports and confirmations this worker checks again after moderation passed them, waiting "
    "for an event sent late; at CHATGUARD_REPORT_WAITING_MAX per partition, more are refused "
    "at once (streams.report_retry.WaitingRoom).",
    registry=REGISTRY,
)
PARTITION_LAG = Gauge(
    "chatguard_partition_lag",
    "Records of an assigned input partition beyond this worker's position in it (to the high "
    "watermark, so records held behind an open transaction count), as its client last saw "
    "them, read every second (streams.partition_progress).",
    ["topic", "partition"],
    registry=REGISTRY,
)
PARTITION_STALLED = Gauge(
    "chatguard_partition_stalled_seconds",
    "Seconds records of an assigned input partition have waited beyond a position that has not "
    "moved (0 while it moves or nothing waits); past CHATGUARD_PARTITION_STALL_S /health says "
    "degraded and names the partition.",
    ["topic", "partition"],
    registry=REGISTRY,
)
LABEL_STORE_OK.set(1)
DATA_DISK_OK.set(1)
REGISTRY_OK.set(1)
RULE_HITS = Counter(
    "chatguard_rule_hits_total",
    "Events a rule fired on, by rule id and effect.",
    ["rule", "effect"],
    registry=REGISTRY,
)
RULES_INFO = Gauge(
    "chatguard_rules_info",
    "The rules version serving decisions (value 1).",
    ["version"],
    registry=REGISTRY,
)
RULE_LIST_SIZE = Gauge(
    "chatguard_rule_list_entries",
    "Terms and contact entries of each served rule.",
    ["rule"],
    registry=REGISTRY,
)
LEARNED_HITS = Counter(
    "chatguard_learned_hits_total",
    "Learned-list entries that fired (each blocks the message that carries its token).",
    registry=REGISTRY,
)
LEARNED_ENTRIES = Gauge(
    "chatguard_learned_entries",
    "Entries of the served learned list (learned and pinned, removals applied).",
    registry=REGISTRY,
)
LEARNED_RECORDS = Counter(
    "chatguard_learned_records_total",
    "Learned-list records read, by result (ok, refused).",
    ["result"],
    registry=REGISTRY,
)
LEARNED_TOKENS = Counter(
    "chatguard_learned_tokens_total",
    "Contact tokens this worker taught the fleet (enough blocked events from enough accounts).",
    registry=REGISTRY,
)
LEARN_EVIDENCE_DROPPED = Counter(
    "chatguard_learn_evidence_dropped_total",
    "Blocked events' contact tokens not counted: new tokens past CHATGUARD_LEARN_MAX_TOKENS "
    "in one window.",
    registry=REGISTRY,
)
LIVE_CAMPAIGNS = Gauge(
    "chatguard_live_campaigns",
    "Campaigns this worker knows that have not lapsed (streams.campaigns).",
    registry=REGISTRY,
)
CAMPAIGN_RECORDS = Counter(
    "chatguard_campaign_records_total",
    "Campaign records read, by result (ok, refused).",
    ["result"],
    registry=REGISTRY,
)
CAMPAIGN_FINGERPRINTS_FOLDED = Counter(
    "chatguard_campaign_fingerprints_folded_total",
    "Records of campaign.fingerprints this worker's campaign fold read (dead letters included).",
    registry=REGISTRY,
)
CAMPAIGN_ANNOUNCEMENTS = Counter(
    "chatguard_campaign_announcements_total",
    "Campaign records this worker wrote (a band crossed, doubled, turned harmful or was renewed).",
    registry=REGISTRY,
)
CAMPAIGN_MEMBERS = Counter(
    "chatguard_campaign_members_total",
    "Events that belong to a live campaign, by its status (harmful ones are blocked).",
    ["status"],
    registry=REGISTRY,
)
STATE_ENTRIES = Gauge(
    "chatguard_state_entries",
    "Entries in this worker's RocksDB stores (campaign-bands; sender-activity, contact-evidence:"
    " active and standby partitions; recent-events: the generations in the window), "
    "RocksDB's estimate, read on scrape.",
    ["store"],
    registry=REGISTRY,
)
STATE_BYTES = Gauge(
    "chatguard_state_bytes",
    "Bytes of those stores: RocksDB's estimate of live data in SST files plus memtables.",
    ["store"],
    registry=REGISTRY,
)
SENDER_MESSAGES = Counter(
    "chatguard_sender_messages_total",
    "Chat messages counted in the sender-activity table (with CHATGUARD_SENDERS on).",
    registry=REGISTRY,
)
SENDER_REVIEWS = Counter(
    "chatguard_sender_reviews_total",
    "Accounts sent to review for sending one text to many conversations (once per window).",
    registry=REGISTRY,
)
WEB_CONNECTIONS_REFUSED = Counter(
    "chatguard_web_connections_refused_total",
    "HTTP connections over the web server's most (streams.web_server): an idle one closed.",
    registry=REGISTRY,
)
RULE_RELOADS = Counter(
    "chatguard_rule_reloads_total",
    "Rules versions offered, by result.",
    ["result"],
    registry=REGISTRY,
)


def render() -> bytes:
    """The text exposition format of every metric above."""
    return generate_latest(REGISTRY)


def set_model(version: str, policy_version: str) -> None:
    MODEL_INFO.clear()
    MODEL_INFO.labels(version=version, policy_version=policy_version).set(1)


def set_refused(version: str | None, reason: str = "") -> None:
    """Name the refused version, or clear it once a version was loaded."""
    MODEL_REFUSED.clear()
    if version is not None:
        MODEL_REFUSED.labels(version=version, reason=reason).set(1)


def set_rules(version: str, list_sizes: dict[str, int]) -> None:
    RULES_INFO.clear()
    RULES_INFO.labels(version=version).set(1)
    RULE_LIST_SIZE.clear()
    for rule, size in list_sizes.items():
        RULE_LIST_SIZE.labels(rule=rule).set(size)


def set_partition(topic: str, partition: int, lag: int, stalled_s: float) -> None:
    PARTITION_LAG.labels(topic=topic, partition=str(partition)).set(lag)
    PARTITION_STALLED.labels(topic=topic, partition=str(partition)).set(stalled_s)


def forget_partition(topic: str, partition: int) -> None:
    """Drop a partition no longer assigned (its last values would stand still otherwise)."""
    for gauge in (PARTITION_LAG, PARTITION_STALLED):
        with contextlib.suppress(KeyError):  # never set
            gauge.remove(topic, str(partition))
