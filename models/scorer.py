"""``Scorer``: what a model must be for the registry to store it and a worker to serve it.

Serving and the registry depend on these protocols, not on ``ModerationClassifier``: any object
that names its labels and scores a batch of texts can be saved, signed, loaded and served. The
loader checks an unpickled object against ``Scorer`` before using it; what the metadata should
record about how a model was built is up to whoever trains it (``ModerationClassifier.describe``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Scorer(Protocol):
    """Texts → one probability per category, a batch at a time."""

    @property
    def labels(self) -> tuple[str, ...]:
        """The categories scored, in the order of the score columns."""
        ...

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of each category, shape ``(len(texts), len(labels))``."""
        ...


class VersionedScorer(Scorer, Protocol):
    """A scorer as a worker serves it: decisions carry its version (``LoadedModel`` is one)."""

    @property
    def version(self) -> str: ...
