"""``python -m streams campaign-fold``: the campaign fold in a process of its own, for workers
that run with ``CHATGUARD_CAMPAIGN_FOLD=separate``.

It runs until SIGTERM or SIGINT and exits 1 if the fold crashed (a supervisor restarts it;
nothing is lost: it goes on from its store). Like a worker it serves ``/health`` (open, for
liveness probes) and ``/metrics`` (behind ``CHATGUARD_WEB_TOKEN``), on its own port
(``CHATGUARD_FOLD_WEB_PORT``), so that it can run on the same host as a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from aiohttp import web

from chatguard.settings import Settings
from streams import decompression, metrics, oversize, web_server
from streams.campaign_fold import CampaignFold
from streams.campaigns import CampaignHolder
from streams.model_holder import ModelHolder
from streams.state_size import report, total_size
from streams.web_auth import authorized

log = logging.getLogger(__name__)


def main() -> int:
    from streams.fleet_signing import FleetKeyError, FleetSigner
    from streams.logs import use_json_logs
    from streams.topics import ensure_topics

    settings = Settings.from_env()
    decompression.set_limit(settings.max_decompressed_mb * 1024 * 1024)
    oversize.install(settings)
    try:
        FleetSigner.for_settings(settings)  # a key it cannot use is a line, like the worker's
    except FleetKeyError as exc:
        print(f"chatguard campaign fold: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    if settings.log_json:
        use_json_logs()
    return asyncio.run(_run_alone(settings, ensure_topics))


def health(fold: CampaignFold, following: asyncio.Task[Any]) -> tuple[dict[str, Any], int]:
    """``/health``: 200 while the fold and the campaigns follower run, else 503 and why."""
    problems = {}
    if fold.crashed:
        problems["campaign_fold"] = repr(fold.crash_reason)
    if following.done():
        problems["campaigns_follower"] = "stopped"
    if problems:
        return {"status": "crashed", "crashed": problems}, 503
    return {"status": "ok"}, 200


def web_app(
    settings: Settings, fold: CampaignFold, following: asyncio.Task[Any]
) -> web.Application:
    async def health_view(request: web.Request) -> web.Response:
        body, status = health(fold, following)
        return web.json_response(body, status=status)

    async def metrics_view(request: web.Request) -> web.Response:
        if not authorized(settings, request):
            return web.json_response(
                {"error": "this endpoint needs Authorization: Bearer <CHATGUARD_WEB_TOKEN>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="chatguard"'},
            )
        report({"campaign-bands": total_size(fold.store.databases())})
        return web.Response(body=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/health", health_view)
    app.router.add_get("/metrics", metrics_view)
    return app


async def _run_alone(settings: Settings, ensure_topics: Any) -> int:
    await ensure_topics(settings)
    holder = CampaignHolder(settings.campaign_window_s)
    fold = CampaignFold(settings, ModelHolder(settings), holder)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    following = asyncio.create_task(holder.follow(settings))
    await fold.start()
    runner = web_server.runner(web_app(settings, fold, following))
    await runner.setup()
    await web_server.GuardedSite(runner, settings.web_host, settings.fold_web_port).start()
    log.info(
        "campaign fold: folding %s as group %s; /health and /metrics on %s:%d",
        fold.topic,
        fold.group_id,
        settings.web_host,
        settings.fold_web_port,
    )
    try:
        while not stopping.is_set() and not fold.crashed and not following.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)
    finally:
        crashed = fold.crashed or following.done()
        following.cancel()
        await runner.cleanup()
        await fold.stop()
    if crashed:
        log.error("campaign fold: stopped after a crash: %r", fold.crash_reason)
        return 1
    return 0
