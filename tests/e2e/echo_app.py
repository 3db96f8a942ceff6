"""A minimal Faust app for the harness's own round-trip test: one agent copies ``echo.in`` to
``echo.out`` unchanged (key and value as raw bytes).

It is configured like the real worker, from ``Settings.from_env()``, so the per-test
``CHATGUARD_*`` variables of the ``worker_process`` fixture give it unique topics, group, web port
and data dir. Run: ``python -m faust -A tests.e2e.echo_app worker -l info``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust

from chatguard.settings import Settings

settings = Settings.from_env()

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    topic_partitions=settings.topic_partitions,
    datadir=str(settings.data_dir),
    web_enabled=settings.web_enabled,
    web_port=settings.web_port,
    store="memory://",
    consumer_auto_offset_reset="earliest",
    autodiscover=False,
)

source = app.topic(settings.topic("echo.in"), key_serializer="raw", value_serializer="raw")
sink = app.topic(settings.topic("echo.out"), key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def echo(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
    """Forward each event with its key; Faust commits the offset after the send is handed off."""
    async for event in stream.events():
        await sink.send(key=event.key, value=event.value)
        yield None
