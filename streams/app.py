"""The single Faust app, configured once from the environment (``chatguard.settings``)."""

from __future__ import annotations

import faust

from chatguard.settings import Settings
from streams.transport import Transport


def broker_credentials(settings: Settings) -> object | None:
    """Faust credentials for TLS and SASL, or None for a plaintext broker."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        ssl_context = create_ssl_context(
            cafile=settings.ssl_cafile or None,
            certfile=settings.ssl_certfile or None,
            keyfile=settings.ssl_keyfile or None,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    mechanism = settings.sasl_mechanism
    if mechanism == "PLAIN":
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            ssl_context=ssl_context,
        )
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        mechanism=mechanism,
        ssl_context=ssl_context,
    )


def create_app(settings: Settings) -> faust.App:
    """A Faust app for these settings; agents are attached by ``streams.agents``."""
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=broker_credentials(settings),
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=True,
        store="memory://",
        datadir=str(settings.data_dir),
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        # Faust's /router/ (cluster topology) and /table/ (any table key, e.g. an account's
        # strikes) views: nothing here routes requests between workers, so they only leak
        web_router_enabled=False,
        web_tables_enabled=False,
        consumer_auto_offset_reset="earliest",
        # commit often: a SIGKILLed worker's successor re-reads (and we de-duplicate) less
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        # a SIGKILLed worker is noticed after the session timeout; Faust's default is 60 s
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        stream_buffer_maxsize=4096,
        producer_linger_ms=5,
        producer_max_batch_size=262_144,
        autodiscover=False,
    )
    # every consumer reads committed records only: an aborted transaction's reports never count
    app.transport = Transport(app.conf.broker_consumer, app)
    return app


settings = Settings.from_env()
app = create_app(settings)
