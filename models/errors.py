"""Every exception the models package raises, under one root so callers can catch ``ModelError``."""

from __future__ import annotations


class ModelError(Exception):
    """Root of every error raised by the models package."""


class ArtifactNotFound(ModelError):
    """A model version folder or one of its files does not exist."""


class MalformedArtifact(ModelError):
    """A version folder's ``metadata.json`` is unreadable or lacks a required field."""


class ArtifactIntegrityError(ModelError):
    """``model.joblib`` differs from the sha256 in ``metadata.json``; it is never unpickled."""


class IncompatibleModelError(ModelError):
    """The artifact was written by a scikit-learn version other than the one installed."""


class ArtifactExists(ModelError):
    """A version folder already exists; versions are immutable and never overwritten."""


class NoCurrentModel(ModelError):
    """The registry has no ``CURRENT`` pointer yet (nothing promoted)."""


class UnknownVersion(ModelError):
    """The registry holds no version with the requested name."""


class NothingToRollBack(ModelError):
    """The current version has no earlier promoted version to go back to."""


class InsufficientLabels(ModelError):
    """A category has too few known positives or negatives to fit and calibrate a model."""


class PolicyError(ModelError):
    """A policy override file or threshold is malformed or names an unknown category."""


class SignatureMissing(ModelError):
    """A model version has no signature; workers refuse it before unpickling."""


class SignatureInvalid(ModelError):
    """A version's signature is not the trusted key's over its hash and metadata."""


class SigningKeyError(ModelError):
    """A signing or verification key file is missing or is not an Ed25519 key."""


class UnreadableMessages(ModelError):
    """A file of messages to classify is missing or has a row that is not JSON with a ``text``."""
