"""Hostile text for the trained classifier: any Unicode, any length, always valid probabilities."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.registry import ModelRegistry

any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(any_text, min_size=1, max_size=8))
def test_any_batch_scores_to_probabilities(
    default_model_registry: ModelRegistry, texts: list[str]
) -> None:
    model = default_model_registry.load_current()
    scores = model.score(texts)
    assert scores.shape == (len(texts), len(model.labels))
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()


def test_empty_huge_and_repeated_texts(default_model_registry: ModelRegistry) -> None:
    model = default_model_registry.load_current()
    texts = ["", " ", "\u200b" * 1000, "赌" * 200_000, "a" * 1_000_000, "\ud800 lone surrogate"]
    scores = model.score(texts)
    assert scores.shape == (len(texts), len(model.labels)) and np.isfinite(scores).all()
