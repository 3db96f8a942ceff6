"""Save and load one model version: an immutable folder of ``model.joblib`` + ``metadata.json``.

What is stored is any ``models.scorer.Scorer``; nothing here knows which kind of model it is.
Facts about how it was built come in ``metadata`` from whoever trained it; a ``signal_names``
entry there is checked against the normalizer's before the model is unpickled.

joblib is pickle, and unpickling runs code. So loading reads ``metadata.json`` first, checks the
version's Ed25519 signature when given a public key (``models.signing``), refuses a scikit-learn
version other than the installed one, reads the joblib bytes once, checks their sha256 against
the (signed) metadata, and only then unpickles *those same bytes* (no second read that a swapped
file could slip into). A version folder is written under a temporary name and renamed
into place, so it is either complete or absent, and it is never overwritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import scipy
import sklearn

from models.bounded_read import read_bounded
from models.errors import (
    ArtifactExists,
    ArtifactIntegrityError,
    ArtifactNotFound,
    IncompatibleModelError,
    MalformedArtifact,
    PolicyError,
)
from models.normalize import SIGNAL_NAMES, fingerprint
from models.policy import Thresholds
from models.scorer import Scorer
from models.signing import verify
from models.version_folder import VersionFolder

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT_VERSION = 1
# what a worker reads of a version folder at most (models.bounded_read): the default model's
# metadata is about 21 KB and its joblib under 100 MB
MAX_METADATA_BYTES = 16 << 20
MAX_MODEL_BYTES = 2 << 30
_REQUIRED = ("format_version", "version", "labels", "thresholds", "sha256", "libraries")


def library_versions() -> dict[str, str]:
    """Versions of everything that shapes the pickled model."""
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadedModel:
    """A verified, unpickled model version, ready to score."""

    version: str
    labels: tuple[str, ...]
    thresholds: Mapping[str, Thresholds]
    metadata: Mapping[str, Any]
    scorer: Scorer = field(repr=False)
    path: Path
    # trained under a normalizer that reads text otherwise than this code's (metadata's
    # ``normalizer``, ``models.normalize.fingerprint``): it loads, but should be retrained
    normalizer_differs: bool = False

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of each category, shape ``(len(texts), len(labels))``."""
        return self.scorer.score(texts)


def save_artifact(
    directory: Path,
    scorer: Scorer,
    *,
    thresholds: Mapping[str, Thresholds],
    metadata: Mapping[str, Any] | None = None,
    write_extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a new version folder at ``directory`` (its name is the version) and return it.

    ``metadata`` adds fields (data snapshot, metrics ...) to the ones computed here;
    ``write_extra`` may add files (reports, held-out rows) before the folder is sealed.
    """
    directory = Path(directory)
    if directory.exists():
        msg = f"model version folder {directory} already exists; versions are never overwritten"
        raise ArtifactExists(msg)
    labels = tuple(scorer.labels)
    if set(thresholds) != set(labels):
        msg = f"thresholds cover {sorted(thresholds)}, the model scores {list(labels)}"
        raise ValueError(msg)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model_path = VersionFolder(staging).model
        joblib.dump(scorer, model_path)
        if write_extra is not None:
            write_extra(staging)
        meta: dict[str, Any] = dict(metadata or {})
        meta.update(
            format_version=FORMAT_VERSION,
            version=directory.name,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            labels=list(labels),
            thresholds={label: thresholds[label].to_json() for label in labels},
            libraries=library_versions(),
            sha256=sha256_file(model_path),
            size_bytes=model_path.stat().st_size,
        )
        VersionFolder(staging).metadata.write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n"
        )
        for path in staging.rglob("*"):
            if path.is_file():
                path.chmod(0o444)
        os.rename(staging, directory)  # atomic on one filesystem; fails if the target appeared
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def read_metadata(directory: Path) -> dict[str, Any]:
    """The parsed, checked ``metadata.json`` of a version folder."""
    path = VersionFolder(Path(directory)).metadata
    try:
        meta = json.loads(read_bounded(path, MAX_METADATA_BYTES))
    except FileNotFoundError as exc:
        msg = f"{path} does not exist: not a model version folder"
        raise ArtifactNotFound(msg) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path} is not readable JSON: {exc}"
        raise MalformedArtifact(msg) from exc
    if not isinstance(meta, dict):
        msg = f"{path} must hold a JSON object"
        raise MalformedArtifact(msg)
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        msg = f"{path} lacks {missing}"
        raise MalformedArtifact(msg)
    if meta["format_version"] != FORMAT_VERSION:
        msg = f"{path}: format_version {meta['format_version']!r}, this code reads {FORMAT_VERSION}"
        raise IncompatibleModelError(msg)
    return meta


def load_artifact(directory: Path, public_key: Ed25519PublicKey | None = None) -> LoadedModel:
    """Verify and load a version folder; nothing is unpickled unless every check passes.

    With ``public_key`` (workers always pass one) the version must carry that key's signature;
    without it only the sha256 is checked, for the trusted side (training, the promotion gate).
    """
    directory = Path(directory)
    meta = read_metadata(directory)
    if public_key is not None:
        verify(directory, meta, public_key)
    trained_with = meta["libraries"].get("scikit-learn")
    if trained_with != sklearn.__version__:
        msg = (
            f"{directory} was trained with scikit-learn {trained_with}, this environment has "
            f"{sklearn.__version__}; retrain it (chatguard train) "
            f"or install scikit-learn=={trained_with}"
        )
        raise IncompatibleModelError(msg)
    model_path = VersionFolder(directory).model
    try:
        payload = read_bounded(model_path, MAX_MODEL_BYTES)
    except FileNotFoundError as exc:
        msg = f"{model_path} does not exist"
        raise ArtifactNotFound(msg) from exc
    except OSError as exc:
        msg = f"{model_path} cannot be read: {exc}"
        raise MalformedArtifact(msg) from exc
    actual = hashlib.sha256(payload).hexdigest()
    if actual != meta["sha256"]:
        msg = (
            f"{model_path} has sha256 {actual}, metadata.json records {meta['sha256']}: "
            "the file was modified or corrupted; refusing to unpickle it"
        )
        raise ArtifactIntegrityError(msg)
    signals = tuple(meta.get("signal_names") or ())
    if signals not in ((), SIGNAL_NAMES):
        msg = (
            f"{directory} was trained with signals {signals}, the normalizer now gives "
            f"{SIGNAL_NAMES}; retrain it"
        )
        raise IncompatibleModelError(msg)
    scorer = joblib.load(io.BytesIO(payload))
    if not isinstance(scorer, Scorer):
        msg = f"{model_path} holds a {type(scorer).__name__}, which is not a fitted Scorer"
        raise IncompatibleModelError(msg)
    labels = tuple(meta["labels"])
    if tuple(scorer.labels) != labels:
        msg = f"{model_path} scores {scorer.labels}, metadata.json says {labels}"
        raise MalformedArtifact(msg)
    try:
        thresholds = {label: Thresholds.from_json(meta["thresholds"][label]) for label in labels}
    except (KeyError, TypeError, AttributeError, PolicyError) as exc:
        msg = f"{VersionFolder(directory).metadata}: thresholds do not cover {list(labels)}: {exc}"
        raise MalformedArtifact(msg) from exc
    # lookup tables and dense weights are built on first use: pay for them here, where a worker
    # loads a model off its event loop, not in the first batch after a model swap
    scorer.score(["chatguard"])
    trained_with = meta.get("normalizer")
    return LoadedModel(
        version=str(meta["version"]),
        labels=labels,
        thresholds=thresholds,
        metadata=meta,
        scorer=scorer,
        path=directory,
        normalizer_differs=trained_with is not None and trained_with != fingerprint(),
    )
