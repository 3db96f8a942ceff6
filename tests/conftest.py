"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings

from models.registry import ModelRegistry
from models.signing import generate, load_private_key

# Fuzz tests run a bounded number of examples by default (CI); HYPOTHESIS_PROFILE=long digs deeper.
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclass(frozen=True)
class ModelKeys:
    """The session's model signing key pair (files in tmp, never the project's keys)."""

    private: Path
    public: Path

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return load_private_key(self.private)


@pytest.fixture(scope="session", autouse=True)
def model_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelKeys]:
    """A key pair per session. The environment points at it, so `chatguard promote` in the test
    process and every worker subprocess (which inherit the environment) sign and verify with it."""
    directory = tmp_path_factory.mktemp("keys")
    keys = ModelKeys(directory / "model-signing.key", directory / "model-signing.pub")
    generate(keys.private, keys.public)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHATGUARD_MODEL_SIGNING_KEY", str(keys.private))
        patch.setenv("CHATGUARD_MODEL_PUBLIC_KEY", str(keys.public))
        patch.delenv("CHATGUARD_ALLOW_UNSIGNED_MODELS", raising=False)
        yield keys


@pytest.fixture(scope="session")
def default_model_registry(
    tmp_path_factory: pytest.TempPathFactory, model_keys: ModelKeys
) -> ModelRegistry:
    """The default model, trained once per session from the seed corpus, signed with the
    session's key and promoted."""
    from training.train import SEED_CORPUS, train_files

    assert SEED_CORPUS.is_file(), f"the seed corpus {SEED_CORPUS} is missing"
    registry = ModelRegistry(tmp_path_factory.mktemp("default-registry"))
    version, _ = train_files([SEED_CORPUS], registry)
    registry.sign(version, model_keys.private_key)
    registry.promote(version)
    return registry
