"""Every exception the training package raises, under one root ``TrainingError``."""

from __future__ import annotations


class TrainingError(Exception):
    """Root of every error raised by the training package."""


class LabelledDataError(TrainingError):
    """A labelled data file is missing or a row in it is malformed (the message names file:line)."""


class PromotionRefused(TrainingError):
    """The candidate is worse than the current model on shared held-out data; force overrides."""
