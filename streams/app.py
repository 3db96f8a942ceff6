"""The Faust app of one worker, configured from ``Settings``; ``streams.agents.build_worker``
makes it and declares the agents on it (nothing is created at import)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from chatguard.settings import Settings
from streams import decompression, kafka_options, oversize
from streams.transport import ProducerStuck, Transport
from streams.window_index import WindowIndexTable

# How long a stop or a rebalance waits for the agents to finish the events they have taken
DRAIN_TIMEOUT_S = 30.0


class App(faust.App):
    """Faust's app, with a bound on its "Wait for streams" and "Flush producer buffer" steps.

    Before it leaves (a stop, or partitions revoked in a rebalance), Faust waits until every event
    an agent has taken is acknowledged, without a time limit: an agent stuck on one event, or
    one that stopped holding events, keeps a clean stop (a rolling deploy) waiting forever. After
    :data:`DRAIN_TIMEOUT_S` the worker goes on leaving. Nothing is lost: only acknowledged offsets
    are committed, so the partitions' next owner reads the unfinished events again, as after a
    killed worker."""

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        # In a task, not under asyncio.timeout: Faust's commit swallows a cancellation that
        # reaches it while it waits for another commit, and the drain then waited for ever.
        draining = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        await asyncio.wait({draining}, timeout=DRAIN_TIMEOUT_S)
        if draining.done():
            draining.result()
            return
        self.log.warning(
            "agents still hold events after %.0fs; leaving them to the partitions' next "
            "owner. Agents:\n%s",
            DRAIN_TIMEOUT_S,
            self.agents.human_tracebacks(),
        )
        for _ in range(3):  # the cancellation can be swallowed, as above: ask again
            draining.cancel()
            await asyncio.wait({draining}, timeout=1.0)
            if draining.done():
                return

    def _new_web(self) -> Any:
        """The web server, bounded against half-sent requests (``streams.web_server``)."""
        from streams.web_server import GuardedWeb

        return GuardedWeb(self)

    async def _producer_flush(self, logger: Any) -> None:
        """Once stopping, the producer's flush is bounded (:class:`ProducerStuck`)."""
        try:
            await super()._producer_flush(logger)
        except ProducerStuck as exc:
            self.log.warning("leaving undelivered records to the partitions' next owner: %s", exc)


def create_app(settings: Settings) -> faust.App:
    """A Faust app for these settings, with no agents yet."""
    decompression.set_limit(settings.max_decompressed_mb * 1024 * 1024)
    oversize.install(settings)
    app = App(
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
        # windowed tables index their keys for expiry without one heap entry per write
        Table=WindowIndexTable,
    )
    # every consumer reads committed records only: an aborted transaction's reports never count
    app.transport = Transport(app.conf.broker_consumer, app)
    return app
