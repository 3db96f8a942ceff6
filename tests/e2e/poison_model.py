"""A model that raises on one marker text, as a model bug would: for the poison-event fault test.

It is the real default model with ``predict_proba`` wrapped; the worker subprocess unpickles it
from the test's registry (its class is importable there because workers run from the repo root).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chatguard.settings import Settings
from models.classifier import ModerationClassifier
from models.registry import ModelRegistry
from models.signing import load_private_key

MARKER = "POISON-PILL"


class PoisonedClassifier(ModerationClassifier):
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if any(MARKER in text for text in texts):
            msg = f"cannot score a text containing {MARKER}"
            raise ValueError(msg)
        return super().predict_proba(texts)


def promote_poisoned_copy(registry: ModelRegistry) -> str:
    """Save the current model as a poisoned new version, sign it with the test session's key
    (the model is trusted, only buggy) and make it current."""
    current = registry.load_current()
    poisoned = PoisonedClassifier.__new__(PoisonedClassifier)
    poisoned.__dict__.update(current.scorer.__dict__)
    version = registry.save(
        poisoned, thresholds=current.thresholds, metadata={"note": "poisoned test copy"}
    )
    registry.sign(version, load_private_key(Settings.from_env().model_signing_key))
    registry.promote(version)
    return version
