"""The worker's and the fold's HTTP servers (/health, /ready, /metrics), bounded against clients
that open connections and never finish a request.

aiohttp waits for a request's headers without a deadline of its own: its keep-alive timeout (an
hour by default) is the only clock on a connection that sent half a request. Measured from
outside on a worker under ``ulimit -n 1024``: 842 half-sent ``GET /metrics`` requests in 6 s took
every file descriptor; ``/health`` gave no answer, the Kafka clients could not reconnect, nothing
was decided for the two minutes the connections stayed open, and a batch whose scoring needed to
open a file became 256 ``internal_error`` dead letters. So:

- a connection that has not sent a whole request within :data:`IDLE_S` of opening, or of its last
  response, is closed (aiohttp's keep-alive timeout, which also runs from the connection's start);
- at most :data:`MAX_CONNECTIONS` are open at a time, so the process keeps its descriptors for
  Kafka, RocksDB and the model: one more closes the oldest connection still waiting for a request
  (a scrape or probe is done in milliseconds, so those are the slow clients'), or, if every one is
  busy answering, is closed itself as soon as it is accepted.

A monitoring system's scrape or probe takes milliseconds and reconnects when it finds its
connection closed. The web port should still not face the internet: bind it to a private
address or put a proxy in front (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from faust.web.drivers import aiohttp as faust_aiohttp

from streams import metrics

IDLE_S = 10.0  # a connection without a whole request for this long is closed
MAX_CONNECTIONS = 128  # open at a time; more are closed on arrival


def runner(app: web.Application) -> web.AppRunner:
    """An ``AppRunner`` whose connections close after :data:`IDLE_S` without a request."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_S)


class _Refused(asyncio.Protocol):
    """A connection over :data:`MAX_CONNECTIONS` while none could give way: closed on arrival."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Capped:
    """aiohttp's ``Server`` as a protocol factory that keeps at most ``most`` connections open.

    It counts the handlers it made itself, oldest first: asyncio accepts a burst of connections
    (up to the listen backlog) before any of them reaches aiohttp's own list, and counting that
    list let a busy worker hold 190 of 128."""

    def __init__(self, server: web.Server, most: int) -> None:
        self.server = server
        self.most = most
        self.handlers: list[Any] = []

    def __call__(self) -> asyncio.BaseProtocol:
        self.handlers = [h for h in self.handlers if not _closed(h)]
        if len(self.handlers) >= self.most:
            metrics.WEB_CONNECTIONS_REFUSED.inc()
            idle = next((h for h in self.handlers if _idle(h)), None)
            if idle is None:
                return _Refused()
            idle.force_close()
            self.handlers.remove(idle)
        handler = self.server()
        self.handlers.append(handler)
        return handler


def _closed(handler: Any) -> bool:
    return bool(getattr(handler, "_force_close", False))


def _idle(handler: Any) -> bool:
    """Whether aiohttp's handler of a connection is not answering a request: before its first
    (headers half-sent, or not yet read), or between two."""
    return not getattr(handler, "_request_in_progress", True)


class GuardedSite(web.TCPSite):
    """``TCPSite`` whose listening socket hands at most :data:`MAX_CONNECTIONS` connections to
    aiohttp at a time."""

    def __init__(self, *args: Any, most: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._most = most

    async def start(self) -> None:
        server = self._runner.server
        assert server is not None
        self._runner._server = _Capped(server, self._most)  # type: ignore[assignment]
        try:
            await super().start()
        finally:
            self._runner._server = server


class GuardedWeb(faust_aiohttp.Web):
    """Faust's aiohttp web driver with :func:`runner`'s deadline and :class:`GuardedSite`'s cap."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._runner = runner(self.web_app)

    def _new_transport_tcp(self) -> web.BaseSite:
        conf = self.app.conf
        return GuardedSite(
            self._runner, conf.web_bind, conf.web_port, ssl_context=conf.web_ssl_context
        )
