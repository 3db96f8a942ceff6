"""The version folder's layout and names: one owner that training, the registry and signing use."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from models.registry import ModelRegistry
from models.version_folder import VersionFolder, is_version_name, new_version_name


def test_version_names_sort_by_creation_time_and_never_collide() -> None:
    early = new_version_name(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = new_version_name(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert early.startswith("v20260102-030405-") and early < late
    same = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert len({new_version_name(same) for _ in range(50)}) == 50
    assert is_version_name(early)


@pytest.mark.parametrize("name", ["", ".v1.staging", "a/b", "..", "a\\b", "../v1"])
def test_paths_and_staging_folders_are_not_version_names(name: str) -> None:
    assert not is_version_name(name)


def test_a_folder_is_complete_once_its_metadata_is_there(tmp_path: Path) -> None:
    folder = VersionFolder(tmp_path / "v1")
    folder.path.mkdir()
    assert not folder.is_complete()
    folder.metadata.write_text("{}")
    assert folder.is_complete()
    staging = VersionFolder(tmp_path / ".v2.tmp")
    staging.path.mkdir()
    staging.metadata.write_text("{}")
    assert not staging.is_complete()


def test_training_and_signing_write_every_file_the_layout_names(
    default_model_registry: ModelRegistry,
) -> None:
    registry = default_model_registry
    folder = VersionFolder(registry.path(registry.current_version() or ""))
    assert registry.versions_dir / folder.version == folder.path
    for path in (folder.model, folder.metadata, folder.signature, folder.holdout):
        assert path.is_file(), path
    assert folder.seen_texts.is_file() and (folder.report / "report.md").is_file()
