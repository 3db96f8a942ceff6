"""Every setting chatguard reads from the environment, read once into one frozen object.

Nothing else in the code base looks at ``os.environ``: the worker, the CLI and the tests build a
``Settings`` (``Settings.from_env()``) and pass it down.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

Guarantee = Literal["at_least_once", "exactly_once"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

ENV_PREFIX = "CHATGUARD_"


class SettingsError(ValueError):
    """An environment variable holds a value chatguard cannot use."""


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Each field ``name`` is read from ``CHATGUARD_<NAME>``."""

    # Kafka connection
    broker: str = "kafka://127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    # Identity: the app id is the Kafka consumer group; the prefix namespaces every topic
    app_id: str = "chatguard"
    topic_prefix: str = ""
    topic_partitions: int = 8

    # Processing
    processing_guarantee: Guarantee = "at_least_once"
    # how chat messages and posts are read: "batch" (aiokafka batches), "rdkafka" (batches through
    # confluent-kafka: fetching and delivery in librdkafka's threads) or "faust" (a Faust agent,
    # needed for exactly-once); "auto" picks batch unless exactly-once is asked
    ingest: str = "auto"
    batch_size: int = 256
    batch_window_s: float = 0.05
    # the raw bytes (values and keys) a batch may hold: a batch ends at this many even short of
    # batch_size events, so a flood of long texts on one partition holds the others for a
    # fraction of a second of scoring, not a full batch of them (256 x 20,000 characters took
    # 6.5 s); each assigned partition still gives at least one record to every batch it has
    # records for. 256 short chat messages stay well under it
    batch_max_bytes: int = 262_144
    max_event_bytes: int = 1_048_576
    # what a record batch may decompress to (streams.decompression): a compression bomb costs
    # this much memory, and a batch over it is an unreadable_batch dead letter
    max_decompressed_mb: int = 64
    max_text_chars: int = 20_000
    # ids (and other short string fields such as a report's reason) and Kafka keys: longer ones
    # are dead letters, so no decision, strike or dead letter outgrows a Kafka record
    max_id_chars: int = 256
    max_key_bytes: int = 1_024
    # the largest record chatguard produces (Faust's producer refuses larger; so does the broker
    # above 1 MB): a record over it is replaced by a compact dead letter
    max_record_bytes: int = 1_000_000
    # a batch scored for longer than this is scored event by event; an event that alone takes
    # longer becomes a scoring_timeout dead letter (scoring runs beside the event loop, not in it)
    scoring_budget_s: float = 5.0
    # where the model runs: "process" (a child process, so scoring does not share the event
    # loop's interpreter lock: streams/scoring_process.py) or "thread" (in the worker itself)
    scoring: str = "process"

    # Model and policy
    registry: Path = Path("registry")
    policy_file: str = ""
    model_poll_s: float = 5.0
    # Ed25519 keys (``chatguard keys init``): promotion signs with the private key, which stays
    # with whoever promotes; workers verify with the public key and refuse unsigned versions
    model_signing_key: Path = Path("keys/model-signing.key")
    model_public_key: Path = Path("keys/model-signing.pub")
    # development only: serve models without checking their signature (logged loudly)
    allow_unsigned_models: bool = False
    # development only: serve rules files nobody signed (``chatguard rules publish`` signs with
    # the model signing key; workers verify with the model public key)
    allow_unsigned_rules: bool = False

    # Learned lists (models.learned): a contact token in blocked events of this many accounts,
    # this many times within the window, blocks on sight until the TTL runs out
    learn_min_events: int = 5
    learn_min_accounts: int = 3
    learn_window_s: float = 3_600.0
    learn_ttl_s: float = 86_400.0
    # contact tokens a worker starts counting per window; evidence for more new ones is dropped,
    # so that blocked messages naming made-up numbers cannot grow its memory without bound
    learn_max_tokens: int = 100_000
    # stateful agents (tables, stores) wait while the data dir's disk has less free than this
    # (streams.disk_room): RocksDB on a full disk stopped the worker
    data_min_free_mb: int = 256

    # Campaigns (models.campaigns): near-duplicates from this many distinct accounts within the
    # window are a campaign. Off by default: counting every band key of every fingerprinted
    # event costs a worker about half its throughput (docs/operations.md). Where the counting
    # (streams.campaign_fold) runs: in each worker, or "separate": in processes of its own
    # (python -m streams campaign-fold), which then must be running
    campaigns: bool = False
    campaign_accounts: int = 20
    campaign_window_s: float = 3_600.0
    campaign_fold: str = "worker"
    # a harmful campaign blocks a member only if it gives a reason of its own: flagged alone, a
    # contact token, or a score of at least this share of a category's review threshold
    # (streams.campaigns.suspect_alone)
    campaign_own_score: float = 0.5
    # the web port (/health, /metrics) of a fold in a process of its own (streams.fold_process)
    fold_web_port: int = 6067

    # Sender behaviour (models.senders): an account that sends one text to this many distinct
    # conversations within the window goes to review as spam, whatever the text scores. Off by
    # default, like campaigns: counting sends a record per partition and batch of chat messages
    # and writes the table once per account and record (docs/operations.md)
    senders: bool = False
    sender_conversations: int = 5
    sender_window_s: float = 60.0

    # Account enforcement
    strike_window_s: float = 86_400.0
    restrict_strikes: float = 3.0
    suspend_strikes: float = 6.0
    confirmed_report_weight: float = 1.0
    # unconfirmed reports only ever lead to review: when the reliabilities of the distinct
    # reporters of an account's seen events add up to this within the strike window
    review_reports: float = 1.0
    # a report that reaches its check before its event was moderated (it overtook the event
    # under lag) is checked again this many times, this many seconds apart, before it is refused;
    # the tries count only once the fleet's moderation has passed the time the report was first
    # checked, and while it has not, a report waits up to report_backlog_wait_s
    report_retries: int = 20
    report_retry_s: float = 15.0
    report_backlog_wait_s: float = 7_200.0
    # reports checked again after moderation passed them, per partition of events.by_id, at
    # most; past that an unknown event's report is refused at once (a flood of reports of
    # events that never existed was checked 21 times each)
    report_waiting_max: int = 200

    # Moderator identity: the HMAC-SHA256 key shared with the moderation tool (or a file holding
    # it); without one, no label or report decision is accepted
    moderator_hmac_key: str = field(default="", repr=False)
    moderator_hmac_key_file: str = ""
    # a second key whose signatures verify too, while the moderation tool rotates its key
    moderator_hmac_key_accepted: str = field(default="", repr=False)
    moderator_hmac_key_accepted_file: str = ""
    # Fleet identity: the MAC key the workers share (or a file holding it); with one,
    # records on internal topics must carry a worker's signature (streams.fleet_signing)
    fleet_key: str = field(default="", repr=False)
    fleet_key_file: str = ""
    # a second fleet key whose signatures are accepted but never made: set during a rotation so
    # that workers still on one key and workers already on the other read each other's records
    fleet_key_accepted: str = field(default="", repr=False)
    fleet_key_accepted_file: str = ""

    # Labels flowing back to training
    label_store: Path = Path("labels/moderator-labels.jsonl")
    # a signed label older than this is refused: a signature does not expire, so without a bound
    # anyone who can write the labels topic could replay any label ever signed into a new store
    label_max_age_s: float = 7 * 86_400.0

    # Operations
    web_port: int = 6066
    web_enabled: bool = True
    # loopback outside containers; a container sets 0.0.0.0 so its probes and scrapers reach it
    web_host: str = "127.0.0.1"
    # when set, /ready and /metrics need ``Authorization: Bearer <token>``; /health stays open
    web_token: str = field(default="", repr=False)
    data_dir: Path = Path(".run/worker")
    # /health answers 503 once a producer has not delivered a batch for this long
    # (streams.producer_watch): the orchestrator restarts a worker whose partitions stalled
    producer_stall_s: float = 300.0
    # /health says "degraded" (still 200) and names a partition whose records have waited this
    # long without its position moving (streams.partition_progress): an open transaction, say,
    # which a restart would not end. A batch moves it every second or so; a broker capped at
    # transaction.max.timeout.ms=60000 ends an open transaction within about 70 s
    partition_stall_s: float = 60.0
    log_level: str = "info"
    log_json: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``CHATGUARD_*`` variables; keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls, f.name)))
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse values and combinations that would fail later in a less readable way, or not
        at all: a strike window of 0 started a worker that dead-lettered every strike and could
        verify no report, with /health green."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                msg = f"{ENV_PREFIX}{f.name.upper()}={value} must be a finite number"
                raise SettingsError(msg)
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                msg = f"{ENV_PREFIX}{name.upper()}={getattr(self, name)} must be positive"
                raise SettingsError(msg)
        for name in _NOT_NEGATIVE:
            if getattr(self, name) < 0:
                msg = f"{ENV_PREFIX}{name.upper()}={getattr(self, name)} must not be negative"
                raise SettingsError(msg)
        if self.suspend_strikes < self.restrict_strikes:
            msg = (
                f"CHATGUARD_SUSPEND_STRIKES={self.suspend_strikes} must be at least "
                f"CHATGUARD_RESTRICT_STRIKES={self.restrict_strikes}"
            )
            raise SettingsError(msg)
        for name in ("web_port", "fold_web_port"):
            if not 0 <= getattr(self, name) <= 65_535:
                msg = f"{ENV_PREFIX}{name.upper()}={getattr(self, name)} is not a port"
                raise SettingsError(msg)
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            msg = f"CHATGUARD_PROCESSING_GUARANTEE={self.processing_guarantee!r}: use at_least_once or exactly_once"
            raise SettingsError(msg)
        if self.security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            msg = f"CHATGUARD_SECURITY_PROTOCOL={self.security_protocol!r} is not a Kafka security protocol"
            raise SettingsError(msg)
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            msg = f"CHATGUARD_SECURITY_PROTOCOL={self.security_protocol} needs CHATGUARD_SASL_USERNAME and _PASSWORD"
            raise SettingsError(msg)
        if self.ingest not in ("auto", "batch", "rdkafka", "faust"):
            msg = f"CHATGUARD_INGEST={self.ingest!r}: use auto, batch, rdkafka or faust"
            raise SettingsError(msg)
        if self.scoring not in ("process", "thread"):
            msg = f"CHATGUARD_SCORING={self.scoring!r}: use process or thread"
            raise SettingsError(msg)
        if self.ingest in ("batch", "rdkafka") and self.processing_guarantee == "exactly_once":
            msg = f"CHATGUARD_INGEST={self.ingest} is at-least-once; exactly-once needs CHATGUARD_INGEST=faust"
            raise SettingsError(msg)
        # a dead letter carries a key and an id: both must leave room in a record for the rest
        if not (
            self.max_record_bytes >= 65_536
            and 0 < self.max_key_bytes <= self.max_record_bytes // 16
            and 0 < self.max_id_chars <= self.max_record_bytes // 64
        ):
            msg = (
                f"max_record_bytes={self.max_record_bytes} must be at least 65536, "
                f"max_key_bytes={self.max_key_bytes} at most a 16th of it "
                f"and max_id_chars={self.max_id_chars} at most a 64th"
            )
            raise SettingsError(msg)
        if self.campaign_fold not in ("worker", "separate"):
            msg = f"CHATGUARD_CAMPAIGN_FOLD={self.campaign_fold!r}: use worker or separate"
            raise SettingsError(msg)
        if not 1 <= self.max_decompressed_mb <= 2_000:
            msg = f"CHATGUARD_MAX_DECOMPRESSED_MB={self.max_decompressed_mb}: use 1 to 2000"
            raise SettingsError(msg)
        if not 0 <= self.campaign_own_score <= 1:
            msg = f"CHATGUARD_CAMPAIGN_OWN_SCORE={self.campaign_own_score} must be in [0, 1]"
            raise SettingsError(msg)
        if self.campaign_accounts < 2 or self.campaign_window_s <= 0:
            msg = (
                f"campaign_accounts={self.campaign_accounts} must be at least 2 and "
                f"campaign_window_s={self.campaign_window_s} positive"
            )
            raise SettingsError(msg)
        if self.sender_conversations < 2 or self.sender_window_s <= 0:
            msg = (
                f"sender_conversations={self.sender_conversations} must be at least 2 and "
                f"sender_window_s={self.sender_window_s} positive"
            )
            raise SettingsError(msg)
        if not 0 <= self.report_retries <= 1_000 or not 0 < self.report_retry_s <= 3_600:
            msg = (
                f"report_retries={self.report_retries} must be in [0, 1000] and "
                f"report_retry_s={self.report_retry_s} in (0, 3600]"
            )
            raise SettingsError(msg)
        if not 1 <= self.report_waiting_max <= 1_000_000:
            msg = f"report_waiting_max={self.report_waiting_max} must be in [1, 1000000]"
            raise SettingsError(msg)
        if not 0 <= self.report_backlog_wait_s <= 7 * 86_400:
            msg = f"report_backlog_wait_s={self.report_backlog_wait_s} must be in [0, 604800]"
            raise SettingsError(msg)
        if not 1 <= self.partition_stall_s <= 86_400:
            msg = f"CHATGUARD_PARTITION_STALL_S={self.partition_stall_s}: use 1 to 86400"
            raise SettingsError(msg)
        if self.batch_size < 1 or self.batch_window_s <= 0:
            msg = f"batch_size={self.batch_size} and batch_window_s={self.batch_window_s} must be positive"
            raise SettingsError(msg)

    @property
    def ingest_path(self) -> Literal["batch", "rdkafka", "faust"]:
        """The ingest path ``ingest`` resolves to."""
        if self.ingest == "faust" or (
            self.ingest == "auto" and self.processing_guarantee == "exactly_once"
        ):
            return "faust"
        return "rdkafka" if self.ingest == "rdkafka" else "batch"

    def topic(self, name: str) -> str:
        """The full Kafka topic name for a logical topic such as ``chat.messages``."""
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port[,host:port]`` for plain Kafka clients (aiokafka), from the Faust URL."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";") if part)


# settings that mean nothing at zero or below (a window, a count, a threshold, a size)
_POSITIVE = (
    "topic_partitions",
    "max_event_bytes",
    "batch_max_bytes",
    "max_text_chars",
    "model_poll_s",
    "learn_min_events",
    "learn_min_accounts",
    "learn_window_s",
    "learn_ttl_s",
    "learn_max_tokens",
    "strike_window_s",
    "label_max_age_s",
    "restrict_strikes",
    "suspend_strikes",
    "review_reports",
    "scoring_budget_s",
    "producer_stall_s",
)
# and those where zero means none (no free-space floor, confirmed reports that weigh nothing)
_NOT_NEGATIVE = ("data_min_free_mb", "confirmed_report_weight")


def env_names() -> list[str]:
    """Every environment variable chatguard reads (for docs and the docker-compose check)."""
    return [ENV_PREFIX + f.name.upper() for f in fields(Settings)]


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind in (int, float):
            return kind(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        msg = f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}"
        raise SettingsError(msg) from exc
