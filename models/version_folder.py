"""The layout of one model version folder, and how versions are named: the single owner of both.

A version is an immutable folder named after its creation time (``v20261122-093015-a1b2c3``, so
names sort oldest first)::

    model.joblib       the pickled scorer (models.scorer.Scorer)
    metadata.json      version, labels, thresholds, the joblib's sha256, library versions ...
    signature.json     the promoter's Ed25519 signature (models.signing); absent until promoted
    holdout.jsonl      the held-out test rows, for the promotion gate
    seen_texts.npy     digests of the texts the model was fitted or tuned on
    report/            the evaluation report (Markdown, JSON, PR curves)

``models.artifact`` writes and reads the model and metadata, ``models.signing`` the signature,
``training.train`` the rest, ``models.registry`` places folders under ``versions/``: all of them
name the files through :class:`VersionFolder`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SIGNATURE_FILE = "signature.json"
HOLDOUT_FILE = "holdout.jsonl"
SEEN_TEXTS_FILE = "seen_texts.npy"
REPORT_DIR = "report"


def new_version_name(now: datetime | None = None) -> str:
    """A fresh version name: its UTC creation time, then random hex so two never collide."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"v{stamp}-{secrets.token_hex(4)}"


def is_version_name(name: str) -> bool:
    """Whether ``name`` may name a version folder: one path component, not hidden.

    Hidden names are the staging folders a save writes before renaming them into place."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


@dataclass(frozen=True)
class VersionFolder:
    """The paths inside one version folder."""

    path: Path

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def model(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def metadata(self) -> Path:
        return self.path / METADATA_FILE

    @property
    def signature(self) -> Path:
        return self.path / SIGNATURE_FILE

    @property
    def holdout(self) -> Path:
        return self.path / HOLDOUT_FILE

    @property
    def seen_texts(self) -> Path:
        return self.path / SEEN_TEXTS_FILE

    @property
    def report(self) -> Path:
        return self.path / REPORT_DIR

    def is_complete(self) -> bool:
        """A folder renamed into place has its metadata; a half-written one is still hidden."""
        return is_version_name(self.path.name) and self.metadata.is_file()
