"""A crafted model version whose unpickling writes a marker file: proof that code never ran.

This is the attack on the registry: whoever can write it can put any pickle in ``model.joblib``
and a ``metadata.json`` whose sha256 matches. Three variants of a promoted version:

- ``unsigned``: the crafted pickle with matching metadata and no signature;
- ``wrongly_signed``: the same, signed with a key the workers do not trust;
- ``tampered``: a real, properly signed version whose ``model.joblib`` was then replaced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import joblib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from models.registry import ModelRegistry

Variant = Literal["unsigned", "wrongly_signed", "tampered"]
VARIANTS: tuple[Variant, ...] = ("unsigned", "wrongly_signed", "tampered")


class MarkerPayload:
    """Unpickling this calls ``Path.write_text(marker, ...)``: it leaves a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = Path(marker)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (self.marker, "the crafted model.joblib was unpickled\n"))


def plant(
    registry: ModelRegistry, marker: Path, variant: Variant, trusted_key: Ed25519PrivateKey
) -> str:
    """Save a crafted version of ``variant`` into ``registry`` and make it current; its name.

    ``trusted_key`` signs the genuine version that ``tampered`` then modifies.
    """
    current = registry.load_current()
    version = registry.save(current.scorer, thresholds=current.thresholds)
    folder = registry.path(version)
    folder.chmod(0o755)
    if variant == "tampered":
        registry.sign(version, trusted_key)
    model = folder / "model.joblib"
    model.chmod(0o644)
    joblib.dump(MarkerPayload(marker), model)
    if variant != "tampered":  # the attacker rewrites the metadata's hash to match
        meta_path = folder / "metadata.json"
        meta = json.loads(meta_path.read_text())
        meta["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
        meta_path.chmod(0o644)
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if variant == "wrongly_signed":
        registry.sign(version, Ed25519PrivateKey.generate())
    registry.promote(version)
    return version
