"""Fixtures shared by every test layer."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from models.registry import ModelRegistry

# Fuzz tests run a bounded number of examples by default (CI); HYPOTHESIS_PROFILE=long digs deeper.
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def default_model_registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    """The default model, trained once per session from the seed corpus and promoted."""
    from training.train import SEED_CORPUS, train_files

    assert SEED_CORPUS.is_file(), f"the seed corpus {SEED_CORPUS} is missing"
    registry = ModelRegistry(tmp_path_factory.mktemp("default-registry"))
    version, _ = train_files([SEED_CORPUS], registry)
    registry.promote(version)
    return registry
