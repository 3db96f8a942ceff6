"""Agent tests build a worker on the Faust ingest path (``build_worker``), whose sink records
what the agents would send, serving the default model with fixed thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatguard.settings import Settings
from models.policy import Policy, Thresholds
from models.registry import ModelRegistry
from streams.agents import Worker, build_worker
from streams.model_holder import ServingModel
from tests.agents.harness import MODERATOR_KEY, NothingToReplay, RecordingSink


@pytest.fixture
def agent_settings(tmp_path: Path) -> Settings:
    return Settings(
        ingest="faust",
        topic_prefix="agents.",
        label_store=tmp_path / "labels.jsonl",
        moderator_hmac_key=MODERATOR_KEY.decode(),
        data_dir=tmp_path / "worker-data",
        web_enabled=False,
        # the stand-in models some tests serve are local classes, which cannot be pickled to a
        # scoring process; tests/unit/test_scoring_process.py covers that mode
        scoring="thread",
    )


@pytest.fixture
def sink(agent_settings: Settings) -> RecordingSink:
    return RecordingSink(agent_settings)


@pytest.fixture
def worker(
    agent_settings: Settings, sink: RecordingSink, default_model_registry: ModelRegistry
) -> Worker:
    worker = build_worker(agent_settings, sink)
    worker._replay = NothingToReplay()  # type: ignore[assignment]
    model = default_model_registry.load_current()
    # fixed thresholds make routing independent of the seed model's tuning: only fraud blocks
    thresholds = {label: Thresholds(review=0.5, block=None) for label in model.labels}
    thresholds["fraud"] = Thresholds(review=0.5, block=0.5)
    worker.holder.use(ServingModel(model, Policy(model.labels, thresholds)))
    worker.app.finalize()
    return worker
