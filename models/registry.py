"""A directory of immutable model versions and the ``CURRENT`` pointer to the one being served.

Layout::

    <root>/versions/<version>/{model.joblib, metadata.json, ...}
    <root>/CURRENT          the served version's name, one line
    <root>/history.jsonl    one line per promote / rollback: what became current, what it replaced

``CURRENT`` is replaced atomically (write a temporary file, fsync, rename over), so a worker
polling it never reads half a name. Rolling back undoes the promotion that made the current
version current, walking back one promotion per call.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.artifact import LoadedModel, load_artifact, read_metadata, save_artifact
from models.bounded_read import read_bounded
from models.errors import MalformedArtifact, NoCurrentModel, NothingToRollBack, UnknownVersion
from models.policy import Thresholds
from models.scorer import Scorer
from models.signing import sign
from models.version_folder import VersionFolder, is_version_name, new_version_name

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

CURRENT_FILE = "CURRENT"
MAX_POINTER_BYTES = 4_096  # a version name is under 100
HISTORY_FILE = "history.jsonl"
VERSIONS_DIR = "versions"


class ModelRegistry:
    """Model versions under ``root``; see the module docstring for the layout."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        return self.root / VERSIONS_DIR

    def versions(self) -> list[str]:
        """Every complete version, oldest first (names start with their creation time)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if VersionFolder(p).is_complete())

    def path(self, version: str) -> Path:
        """The folder of ``version``; ``UnknownVersion`` if the registry lacks it."""
        if not is_version_name(version):
            msg = f"{version!r} is not a version name"
            raise UnknownVersion(msg)
        path = self.versions_dir / version
        if not VersionFolder(path).is_complete():
            known = ", ".join(self.versions()[-5:]) or "none"
            msg = f"registry {self.root} has no version {version!r} (latest: {known})"
            raise UnknownVersion(msg)
        return path

    def metadata(self, version: str) -> dict[str, Any]:
        return read_metadata(self.path(version))

    def load(self, version: str, public_key: Ed25519PublicKey | None = None) -> LoadedModel:
        """Verify and load ``version`` (signature when given a public key, sha256 and library
        checks, all before unpickling)."""
        return load_artifact(self.path(version), public_key)

    def sign(self, version: str, private_key: Ed25519PrivateKey) -> None:
        """Vouch for ``version``: write its signature, which workers check before loading it."""
        path = self.path(version)
        sign(path, read_metadata(path), private_key)

    def save(
        self,
        scorer: Scorer,
        *,
        thresholds: Mapping[str, Thresholds],
        metadata: Mapping[str, Any] | None = None,
        write_extra: Callable[[Path], None] | None = None,
    ) -> str:
        """Store a fitted model as a new version (not current) and return its name."""
        version = new_version_name()
        save_artifact(
            self.versions_dir / version,
            scorer,
            thresholds=thresholds,
            metadata=metadata,
            write_extra=write_extra,
        )
        return version

    def current_version(self) -> str | None:
        """The served version's name, or ``None`` before the first promotion."""
        try:
            pointer = read_bounded(self.root / CURRENT_FILE, MAX_POINTER_BYTES)
            name = pointer.decode("utf-8", errors="replace").strip()
        except FileNotFoundError:
            return None
        return name or None

    def problem(self) -> str | None:
        """Why a worker starting now could not load the current model, or None.

        The answer names no filesystem path: workers show it on ``/ready``."""
        if not self.root.is_dir():
            return "the registry folder is missing"
        try:
            version = self.current_version()
        except OSError as exc:
            return f"the registry's CURRENT pointer cannot be read ({exc.strerror})"
        if version is None:
            return "the registry has no CURRENT pointer"
        if not is_version_name(version):
            return "the registry's CURRENT pointer names no version"
        if not VersionFolder(self.versions_dir / version).is_complete():
            return f"the current version {version[:80]} is missing from the registry"
        return None

    def load_current(self, public_key: Ed25519PublicKey | None = None) -> LoadedModel:
        """Load the served version; ``NoCurrentModel`` if nothing has been promoted."""
        version = self.current_version()
        if version is None:
            msg = (
                f"registry {self.root} has no current model; "
                "train one with `chatguard train --promote`"
            )
            raise NoCurrentModel(msg)
        return self.load(version, public_key)

    def promote(self, version: str) -> None:
        """Make ``version`` current. The promotion gate lives in ``training.promote``."""
        self.path(version)
        self._set_current(version, event="promote")

    def rollback(self) -> str:
        """Undo the promotion that made the current version current; return the new current."""
        current = self.current_version()
        if current is None:
            msg = f"registry {self.root} has no current model to roll back"
            raise NothingToRollBack(msg)
        previous = None
        for entry in reversed(self.history()):
            if entry.get("event") == "promote" and entry.get("version") == current:
                previous = entry.get("previous")
                break
        if not previous:
            msg = f"{current} was not promoted over an earlier version; nothing to roll back to"
            raise NothingToRollBack(msg)
        if not isinstance(previous, str):
            msg = f"{self.root / HISTORY_FILE} names {previous!r} as the version before {current}"
            raise MalformedArtifact(msg)
        self.path(previous)
        self._set_current(previous, event="rollback")
        return str(previous)

    def history(self) -> list[dict[str, Any]]:
        """Promotions and rollbacks, oldest first; :class:`MalformedArtifact` naming the line
        when the file was damaged (a rollback must not guess from it)."""
        path = self.root / HISTORY_FILE
        if not path.is_file():
            return []
        entries = []
        for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # not UTF-8, or not JSON
                msg = f"{path} line {number} cannot be read ({exc}); fix or remove that line"
                raise MalformedArtifact(msg) from exc
            if not isinstance(entry, dict):
                msg = f"{path} line {number} is not a JSON object; fix or remove that line"
                raise MalformedArtifact(msg)
            entries.append(entry)
        return entries

    def _set_current(self, version: str, *, event: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {
            "event": event,
            "version": version,
            "previous": self.current_version(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with (self.root / HISTORY_FILE).open("a", encoding="utf-8") as history:
            history.write(json.dumps(entry) + "\n")
        fd, tmp = tempfile.mkstemp(prefix=".CURRENT.", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(version + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.root / CURRENT_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
