"""``Scorer``: what a model version must be for the registry to store it and a worker to serve it.

Serving and the registry depend on this protocol, not on ``ModerationClassifier``: any object
that names its labels and scores a batch of texts can be saved, signed, loaded and served. The
loader checks an unpickled object against it before using it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

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

    def describe(self) -> dict[str, Any]:
        """JSON-able facts about how it was built, recorded in ``metadata.json``.

        A key ``signal_names`` lists the normalizer signals the scorer was fitted with; loading
        refuses the version if the normalizer no longer gives them."""
        ...
