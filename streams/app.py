"""The Faust app of one worker, configured from ``Settings``; ``streams.agents.build_worker``
makes it and declares the agents on it (nothing is created at import)."""

from __future__ import annotations

import faust

from chatguard.settings import Settings
from streams import kafka_options
from streams.transport import Transport


def create_app(settings: Settings) -> faust.App:
    """A Faust app for these settings, with no agents yet."""
    app = faust.App(
        settings.app_id,
        **kafka_options.faust_app(settings),
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
        stream_buffer_maxsize=4096,
        autodiscover=False,
    )
    # every consumer reads committed records only: an aborted transaction's reports never count
    app.transport = Transport(app.conf.broker_consumer, app)
    return app
