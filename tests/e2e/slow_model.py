"""A model that takes minutes on one marker text, as a stuck computation would: for the scoring
budget test.

It is the real default model with ``predict_proba`` wrapped; the worker subprocess unpickles it
from the test's registry (its class is importable there because workers run from the repo root).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from chatguard.settings import Settings
from models.classifier import ModerationClassifier
from models.registry import ModelRegistry
from models.signing import load_private_key

MARKER = "SLOW-PILL"
STUCK_S = 300.0


class SlowClassifier(ModerationClassifier):
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if any(MARKER in text for text in texts):
            time.sleep(STUCK_S)
        return super().predict_proba(texts)


def promote_slow_copy(registry: ModelRegistry) -> str:
    """Save the current model as a slow new version, sign it with the test session's key (a
    worker refuses unsigned models) and make it current."""
    current = registry.load_current()
    slow = SlowClassifier.__new__(SlowClassifier)
    slow.__dict__.update(current.scorer.__dict__)
    version = registry.save(
        slow, thresholds=current.thresholds, metadata={"note": "slow test copy"}
    )
    registry.sign(version, load_private_key(Settings.from_env().model_signing_key))
    registry.promote(version)
    return version
