"""The public datasets catalogue: checksums pinned and enforced, import from a mirror, fetch,
licences in the recipe's metadata, and the recipe's fallback without any set."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from chatguard.cli import main
from training import catalogue
from training.catalogue import CatalogueError
from training.public_datasets import DEFAULT_ROOT
from training.recipes import recipe_rows

SMS = "sms_spam_collection_v1"
needs_mirror = pytest.mark.skipif(
    not (DEFAULT_ROOT / SMS / "data.jsonl").is_file(),
    reason=f"public datasets absent ({DEFAULT_ROOT})",
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache (``XDG_CACHE_HOME``), never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "chatguard" / "datasets"


def test_every_entry_is_complete_and_has_a_loader() -> None:
    names = [e.name for e in catalogue.CATALOGUE]
    assert len(names) == len(set(names))
    for e in catalogue.CATALOGUE:
        assert len(e.sha256) == 64 and int(e.sha256, 16) >= 0
        assert e.source and e.licence and e.citation and e.mapping and e.test_split
        assert callable(e.loader())


def _fake_set(tmp_path: Path, content: bytes) -> tuple[catalogue.CatalogueEntry, Path]:
    mirror = tmp_path / "mirror"
    (mirror / SMS).mkdir(parents=True)
    path = mirror / SMS / "data.jsonl"
    path.write_bytes(content)
    return catalogue.entry(SMS), mirror


def test_a_checksum_mismatch_is_refused_on_import(tmp_path: Path, own_cache: Path) -> None:
    _, mirror = _fake_set(tmp_path, b'{"text": "hi", "label": "ham"}\n')
    with pytest.raises(CatalogueError, match="sha256"):
        catalogue.import_set(SMS, mirror)
    assert not (own_cache / SMS / "data.jsonl").exists()


def test_fetch_checks_the_pinned_checksum_of_what_it_downloads(
    tmp_path: Path, own_cache: Path
) -> None:
    content = b'{"text": "win a prize", "label": "spam", "paper_split": "train"}\n'
    source = tmp_path / "published.jsonl"
    source.write_bytes(content)
    good = dataclasses.replace(
        catalogue.entry(SMS),
        download_url=source.as_uri(),
        sha256=__import__("hashlib").sha256(content).hexdigest(),
    )
    assert catalogue.fetch_entry(good).read_bytes() == content
    assert catalogue.cached(good) == own_cache / SMS / "data.jsonl"
    tampered = dataclasses.replace(good, sha256="0" * 64)
    with pytest.raises(CatalogueError, match="refusing"):
        catalogue.fetch_entry(tampered, own_cache / "other")
    # a cached copy that no longer matches is refused too, not read
    with pytest.raises(CatalogueError, match="refusing"):
        catalogue.cached(tampered)


def test_fetch_without_a_reachable_source_fails_clearly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    unreachable = dataclasses.replace(
        catalogue.entry(SMS), download_url=(tmp_path / "missing.jsonl").as_uri()
    )
    with pytest.raises(CatalogueError, match="cannot download"):
        catalogue.fetch_entry(unreachable)
    assert main(["datasets", "fetch", SMS]) == 1
    assert "import" in capsys.readouterr().err


def test_datasets_list_names_every_set_and_its_licence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for e in catalogue.CATALOGUE:
        assert e.name in out and e.licence in out


@needs_mirror
def test_import_from_the_mirror_then_listed_as_cached(
    capsys: pytest.CaptureFixture[str], own_cache: Path
) -> None:
    assert main(["datasets", "import", str(DEFAULT_ROOT), SMS]) == 0
    assert (own_cache / SMS / "data.jsonl").is_file()
    capsys.readouterr()
    assert main(["datasets", "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(SMS))
    assert "cached" in line


def test_recipe_without_datasets_falls_back_and_says_so(tmp_path: Path) -> None:
    data = recipe_rows("default", mirror=tmp_path / "none")
    assert data.snapshot["public_datasets"] == []
    assert any("seed and clean corpus only" in n for n in data.notes)
    assert len(data.rows) > len(recipe_rows("seed").rows)


def test_only_the_large_recipe_turns_the_harm_head_and_quotes_apart_on(tmp_path: Path) -> None:
    params = recipe_rows("default", mirror=tmp_path / "none").params
    assert params["harm_blend"] == 0.5
    assert params["quoted_apart"] is True
    assert "chat_domain" not in params  # off: see docs/measurements.md, Quality
    assert "harm_blend" not in recipe_rows("seed").params
    assert "quoted_apart" not in recipe_rows("seed").params


@needs_mirror
def test_recipe_records_licences_and_filters_commercial_use() -> None:
    few = [SMS, "spamhunter_sms", "weibo_rumor_ced_zh"]
    data = recipe_rows("default", mirror=DEFAULT_ROOT, names=few)
    used = {u["name"]: u for u in data.snapshot["public_datasets"]}
    assert set(used) == {SMS, "spamhunter_sms"}  # rumour is not in the default taxonomy
    assert used[SMS]["licence"] == catalogue.entry(SMS).licence
    assert used[SMS]["sha256"] == catalogue.entry(SMS).sha256
    commercial = recipe_rows("default", mirror=DEFAULT_ROOT, names=few, commercial_only=True)
    assert [u["name"] for u in commercial.snapshot["public_datasets"]] == [SMS]
    json.dumps(data.snapshot)  # goes into metadata.json as it is


@needs_mirror
def test_recipe_keeps_every_sets_test_rows_out() -> None:
    sms = catalogue.entry(SMS)
    dataset = sms.loader()(DEFAULT_ROOT)
    train, test = catalogue.held_out(sms, dataset)
    assert int(test.sum()) == 3900 and not (train & test).any()
    data = recipe_rows("default", mirror=DEFAULT_ROOT, names=[SMS])
    trained = {r.text for r in data.rows if r.origin == SMS}
    assert not trained & {r.text for r, t in zip(dataset.rows, test, strict=True) if t}
