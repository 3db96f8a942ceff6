"""Signed models: only a version signed by the trusted key is unpickled; the key pair's files."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from chatguard.cli import main
from models.artifact import load_artifact
from models.errors import (
    ArtifactIntegrityError,
    IncompatibleModelError,
    SignatureInvalid,
    SignatureMissing,
    SigningKeyError,
)
from models.registry import ModelRegistry
from models.signing import generate, load_public_key
from models.version_folder import SIGNATURE_FILE
from tests.conftest import ModelKeys
from tests.marker_model import VARIANTS, Variant, plant

REFUSAL: dict[Variant, type[Exception]] = {
    "unsigned": SignatureMissing,
    "wrongly_signed": SignatureInvalid,
    "tampered": ArtifactIntegrityError,
}


@pytest.fixture
def registry(
    tmp_path: Path, default_model_registry: ModelRegistry, model_keys: ModelKeys
) -> ModelRegistry:
    shutil.copytree(default_model_registry.root, tmp_path / "registry")
    return ModelRegistry(tmp_path / "registry")


def test_a_signed_version_loads_with_the_public_key(
    registry: ModelRegistry, model_keys: ModelKeys
) -> None:
    loaded = registry.load_current(load_public_key(model_keys.public))
    assert loaded.score(["hello"]).shape == (1, len(loaded.labels))


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_crafted_version_is_refused_before_unpickling(
    registry: ModelRegistry, model_keys: ModelKeys, tmp_path: Path, variant: Variant
) -> None:
    marker = tmp_path / "marker"
    plant(registry, marker, variant, model_keys.private_key)
    with pytest.raises(REFUSAL[variant]):
        registry.load_current(load_public_key(model_keys.public))
    assert not marker.exists(), "the crafted pickle ran"


def test_the_marker_pickle_does_run_when_loaded_unchecked(
    registry: ModelRegistry, model_keys: ModelKeys, tmp_path: Path
) -> None:
    """Without this the test above could pass with a marker that never writes anything."""
    marker = tmp_path / "marker"
    version = plant(registry, marker, "unsigned", model_keys.private_key)
    with pytest.raises(IncompatibleModelError):
        load_artifact(registry.path(version))  # no public key: the sha256 check alone
    assert marker.exists()


@pytest.mark.parametrize(
    "field, value",
    [("thresholds", None), ("labels", ["spam"]), ("version", "v-other"), ("sha256", "0" * 64)],
)
def test_the_signature_covers_the_hash_and_the_metadata_that_decides(
    registry: ModelRegistry, model_keys: ModelKeys, field: str, value: object
) -> None:
    folder = registry.path(registry.current_version() or "")
    folder.chmod(0o755)
    meta_path = folder / "metadata.json"
    meta = json.loads(meta_path.read_text())
    if field == "thresholds":
        label = meta["labels"][0]
        meta["thresholds"][label]["block"] = 0.9999
    else:
        meta[field] = value
    meta_path.chmod(0o644)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SignatureInvalid):
        registry.load_current(load_public_key(model_keys.public))


def test_a_wrong_key_names_both_keys(registry: ModelRegistry, tmp_path: Path) -> None:
    other = generate(tmp_path / "other.key", tmp_path / "other.pub")
    with pytest.raises(SignatureInvalid, match=r"signed by key [0-9a-f]{16}, workers trust key"):
        registry.load_current(other)


def test_keys_init_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    private, public = tmp_path / "k" / "model.key", tmp_path / "k" / "model.pub"
    assert main(["keys", "init", "--private", str(private), "--public", str(public)]) == 0
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    load_public_key(public)
    # never overwritten: a second init would orphan every signed model
    assert main(["keys", "init", "--private", str(private), "--public", str(public)]) == 1


def test_a_missing_public_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="chatguard keys init"):
        load_public_key(tmp_path / "absent.pub")


def test_promotion_signs_and_keys_sign_signs_an_existing_version(
    registry: ModelRegistry, model_keys: ModelKeys
) -> None:
    current = registry.load_current()
    version = registry.save(current.scorer, thresholds=current.thresholds)
    assert not (registry.path(version) / SIGNATURE_FILE).exists()
    assert main(["promote", version, "--registry", str(registry.root), "--force"]) == 0
    registry.load(version, load_public_key(model_keys.public))
    unsigned = registry.save(current.scorer, thresholds=current.thresholds)
    assert main(["keys", "sign", unsigned, "--registry", str(registry.root)]) == 0
    registry.load(unsigned, load_public_key(model_keys.public))
