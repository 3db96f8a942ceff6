"""A stop or a rebalance waits a bounded time for the agents to finish the events they hold."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest

from chatguard.settings import Settings
from streams import app as app_module
from streams.app import create_app


class _AgentsNeverFinish:
    """A consumer whose agents never acknowledge the events they took (a stuck agent)."""

    def __init__(self) -> None:
        self.waited = False

    async def wait_empty(self) -> None:
        self.waited = True
        await asyncio.Event().wait()


class _AgentsFinish:
    def __init__(self) -> None:
        self.waited = False

    async def wait_empty(self) -> None:
        self.waited = True


def test_a_stuck_agent_does_not_keep_the_worker_from_leaving(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_module, "DRAIN_TIMEOUT_S", 0.2)
    app = create_app(Settings())
    consumer = _AgentsNeverFinish()
    with caplog.at_level(logging.WARNING):
        asyncio.run(
            asyncio.wait_for(app._consumer_wait_empty(cast(Any, consumer), app.log), timeout=30)
        )
    assert consumer.waited
    assert "agents still hold events after" in caplog.text


def test_agents_that_finish_are_waited_for_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(Settings())
    consumer = _AgentsFinish()
    with caplog.at_level(logging.WARNING):
        asyncio.run(app._consumer_wait_empty(cast(Any, consumer), app.log))
    assert consumer.waited
    assert "agents still hold events" not in caplog.text
