"""Every Kafka client's options, built from ``Settings`` in one place.

All clients share one connection (bootstrap, TLS, SASL: :func:`connection`); each kind of client
adds its own tuning here, so a timeout or batch size is never written twice. Faust's clients get
the same connection through :func:`faust_credentials` and their tuning through :func:`faust_app`.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chatguard.settings import Settings

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

# a SIGKILLed worker's partitions move to another after this (aiokafka's default is 45 s, Faust's
# 60 s); the heartbeat must be well inside it
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 2.0
# a batch reader sees partitions added to an input topic, or a topic deleted and created again,
# when it next refreshes its metadata: the clients' default of 5 minutes left events on new
# partitions waiting that long
METADATA_MAX_AGE_S = 30.0
# producers wait up to 5 ms to fill a batch of up to 256 KiB, which is above the largest event
# chatguard accepts, so a record always fits an empty batch (``streams.sinks.BatchSink``)
LINGER_MS = 5
MAX_BATCH_BYTES = 262_144
# records a Faust consumer hands out per poll (aiokafka unpacks a fetch as they are taken)
MAX_POLL_RECORDS = 1_000
# consumers skip aborted transactions: a producer's rolled-back events or reports never count
ISOLATION_LEVEL = "read_committed"
# a new consumer group starts at the oldest record, so nothing produced before it is skipped
AUTO_OFFSET_RESET = "earliest"
# the rdkafka reader sends a partition that has had its turn to the back of librdkafka's queue
# (``streams.partition_turns``), and librdkafka fetches it again only once the fetch in flight is
# back and, had its queue been full, the back-off for a full queue is over. With the defaults a
# partition alone in its backlog waited out the broker's 500 ms hold of a fetch with nothing new
# at every turn (854 events/s instead of 5,045 on 30,000 events); with only that shortened, it
# waited out the 1 s back-off once its queue had filled (1,518 instead of 6,643 on 150,000).
# Shorter, an idle worker fetches more often: at 10 ms its broker spent 4% of a core more on it,
# at 25 ms under 2%.
RDKAFKA_REFETCH_WAIT_MS = 25


def connection(settings: Settings) -> dict[str, Any]:
    """aiokafka's connection options: bootstrap servers, security protocol, SASL and TLS."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL, or None; one per set of files, shared by every
    client, so Faust's clients and ours verify the broker the same way."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return _ssl_context(settings.ssl_cafile, settings.ssl_certfile, settings.ssl_keyfile)


@lru_cache(maxsize=8)
def _ssl_context(cafile: str, certfile: str, keyfile: str) -> ssl.SSLContext:
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(
        cafile=cafile or None, certfile=certfile or None, keyfile=keyfile or None
    )


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """:func:`connection`'s security options as Faust credentials (None for plaintext)."""
    import faust  # only workers need it: the CLI's Kafka clients start faster without

    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        mechanism=settings.sasl_mechanism,
        ssl_context=context,
    )


def faust_app(settings: Settings) -> dict[str, Any]:
    """The ``faust.App`` keywords for its consumer and producer."""
    return {
        "broker": settings.broker,
        "broker_credentials": faust_credentials(settings),
        "consumer_auto_offset_reset": AUTO_OFFSET_RESET,
        # commit often: a SIGKILLed worker's successor re-reads (and we de-duplicate) less
        "broker_commit_every": 1000,
        "broker_commit_interval": 1.0,
        "broker_session_timeout": SESSION_TIMEOUT_S,
        "broker_heartbeat_interval": HEARTBEAT_INTERVAL_S,
        "producer_linger": LINGER_MS / 1000,
        "producer_max_batch_size": MAX_BATCH_BYTES,
        # records handed out per poll: unbounded, one poll unpacked every record of every
        # fetched partition (1 MiB of zstd on the wire held 12,000 refused 1 MB reports)
        "broker_max_poll_records": MAX_POLL_RECORDS,
    }


def admin(settings: Settings) -> dict[str, Any]:
    """An admin client (topic creation)."""
    return {**connection(settings), "client_id": f"{settings.app_id}.admin"}


def producer(settings: Settings, role: str) -> dict[str, Any]:
    """A producer whose records count once the broker's in-sync replicas have them."""
    return {
        **connection(settings),
        "client_id": f"{settings.app_id}.{role}",
        "acks": "all",
        "linger_ms": LINGER_MS,
        "max_batch_size": MAX_BATCH_BYTES,
    }


def large_record_producer(settings: Settings, role: str, max_record_bytes: int) -> dict[str, Any]:
    """A producer of single records up to ``max_record_bytes`` (rules files), gzip-compressed,
    whose requests fit one such record with its key and headers."""
    return {
        **connection(settings),
        "client_id": f"{settings.app_id}.{role}",
        "acks": "all",
        "compression_type": "gzip",
        "max_request_size": max_record_bytes + 1024 * 1024,
    }


def group_consumer(settings: Settings, group_id: str, role: str) -> dict[str, Any]:
    """A consumer in ``group_id`` that commits offsets itself, after its output is delivered."""
    return {
        **connection(settings),
        "client_id": f"{settings.app_id}.{role}",
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": AUTO_OFFSET_RESET,
        "max_poll_records": settings.batch_size,
        "session_timeout_ms": int(SESSION_TIMEOUT_S * 1000),
        "heartbeat_interval_ms": int(HEARTBEAT_INTERVAL_S * 1000),
        "metadata_max_age_ms": int(METADATA_MAX_AGE_S * 1000),
        "isolation_level": ISOLATION_LEVEL,
    }


def committed_reader(settings: Settings, role: str) -> dict[str, Any]:
    """A group-less consumer of a control topic (rules, learned list, campaigns) that assigns
    its partitions itself and sees only committed records."""
    return {
        **connection(settings),
        "client_id": f"{settings.app_id}.{role}",
        "group_id": None,
        "enable_auto_commit": False,
        "isolation_level": ISOLATION_LEVEL,
    }


def progress_reader(settings: Settings) -> dict[str, Any]:
    """A group-less consumer that reads one record per partition to learn its append time
    (``streams.moderation_progress``): uncommitted records too, so a record in an open
    transaction counts as not moderated yet rather than hiding the ones behind it."""
    return {
        **connection(settings),
        "client_id": f"{settings.app_id}.moderation-progress",
        "group_id": None,
        "enable_auto_commit": False,
        "isolation_level": "read_uncommitted",
        "max_partition_fetch_bytes": 64 * 1024,
    }


def rdkafka_connection(settings: Settings) -> dict[str, Any]:
    """:func:`connection` in librdkafka's terms (confluent-kafka clients)."""
    options: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        options.update(
            {
                "sasl.mechanisms": settings.sasl_mechanism,
                "sasl.username": settings.sasl_username,
                "sasl.password": settings.sasl_password,
            }
        )
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        for name, path in (
            ("ssl.ca.location", settings.ssl_cafile),
            ("ssl.certificate.location", settings.ssl_certfile),
            ("ssl.key.location", settings.ssl_keyfile),
        ):
            if path:
                options[name] = path
    return options


def rdkafka_producer(settings: Settings, role: str) -> dict[str, Any]:
    """:func:`producer` for confluent-kafka. Keys are partitioned with murmur2 like Java's and
    aiokafka's producers (librdkafka's own default is CRC32), so a record keyed by an account
    lands on the partition Faust's tables expect; records up to the record limit fit."""
    return {
        **rdkafka_connection(settings),
        "client.id": f"{settings.app_id}.{role}",
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": LINGER_MS,
        "partitioner": "murmur2_random",
        "message.max.bytes": settings.max_record_bytes + 64 * 1024,
        # a delivery callback only for a record that failed: a Python call per delivered
        # record cost the event loop's thread as much as producing it
        "delivery.report.only.error": True,
    }


def rdkafka_group_consumer(settings: Settings, group_id: str, role: str) -> dict[str, Any]:
    """:func:`group_consumer` for confluent-kafka: offsets committed by chatguard, after delivery."""
    return {
        **rdkafka_connection(settings),
        "client.id": f"{settings.app_id}.{role}",
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": AUTO_OFFSET_RESET,
        "session.timeout.ms": int(SESSION_TIMEOUT_S * 1000),
        "heartbeat.interval.ms": int(HEARTBEAT_INTERVAL_S * 1000),
        "topic.metadata.refresh.interval.ms": int(METADATA_MAX_AGE_S * 1000),
        "isolation.level": ISOLATION_LEVEL,
        "enable.partition.eof": False,
        "check.crcs": True,
        # what librdkafka decompresses a batch to at most (and its largest response): the
        # bound the aiokafka readers keep too (``streams.decompression``), not 100 MB
        "receive.message.max.bytes": (settings.max_decompressed_mb + 1) * 1024 * 1024,
        "fetch.wait.max.ms": RDKAFKA_REFETCH_WAIT_MS,
        "fetch.queue.backoff.ms": RDKAFKA_REFETCH_WAIT_MS,
    }
