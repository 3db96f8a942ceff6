"""The shipped seed corpus: well-formed, balanced enough to train on, and apart from other data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from models.taxonomy import TAXONOMY

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "training" / "seed" / "seed_corpus.jsonl"
TRAFFIC = REPO / "devtools" / "samples" / "traffic.jsonl"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

CATEGORIES = set(TAXONOMY)
LANGS = {"en", "zh", "mixed"}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _read_jsonl(SEED)


def test_every_row_has_text_known_categories_and_language(rows: list[dict[str, Any]]) -> None:
    assert len(rows) >= 800
    for row in rows:
        assert set(row) == {"text", "categories", "lang"}, row
        text, categories = row["text"], row["categories"]
        assert isinstance(text, str) and text.strip() == text and text, row
        assert isinstance(categories, list) and set(categories) <= CATEGORIES, row
        assert len(categories) == len(set(categories)), row
        assert row["lang"] in LANGS, row


def test_no_duplicate_texts(rows: list[dict[str, Any]]) -> None:
    duplicates = [t for t, n in Counter(r["text"] for r in rows).items() if n > 1]
    assert duplicates == []


def test_every_category_has_positives_in_both_languages(rows: list[dict[str, Any]]) -> None:
    for category in sorted(CATEGORIES):
        langs = Counter(str(r["lang"]) for r in rows if category in r["categories"])
        assert sum(langs.values()) >= 100, (category, langs)
        assert langs["en"] > 0 and langs["zh"] > 0, (category, langs)


def test_clean_rows_are_at_least_35_percent(rows: list[dict[str, Any]]) -> None:
    clean = sum(1 for r in rows if not r["categories"])
    assert clean / len(rows) >= 0.35
    for lang in ("en", "zh"):
        assert any(not r["categories"] and r["lang"] == lang for r in rows), lang


def test_no_row_is_in_the_traffic_sample(rows: list[dict[str, Any]]) -> None:
    if not TRAFFIC.exists():
        pytest.skip("devtools/samples/traffic.jsonl not present")
    traffic = {str(event["text"]) for event in _read_jsonl(TRAFFIC)}
    shared = sorted(traffic & {str(r["text"]) for r in rows})
    assert shared == []


def test_no_row_is_copied_from_a_shared_dataset(rows: list[dict[str, Any]]) -> None:
    files = sorted(SHARED_DATASETS.glob("*/data.jsonl")) if SHARED_DATASETS.is_dir() else []
    if not files:
        pytest.skip("../shared/datasets not present")
    # very short lines ("ok", "好的") occur in any chat log; only longer texts can be "copied"
    seed_texts = {str(r["text"]).strip() for r in rows if len(str(r["text"]).strip()) >= 8}
    found: list[tuple[str, str]] = []
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(text, str) and text.strip() in seed_texts:
                    found.append((path.parent.name, text.strip()))
    assert found == []


def test_traffic_sample_events_are_well_formed() -> None:
    if not TRAFFIC.exists():
        pytest.skip("devtools/samples/traffic.jsonl not present")
    events = _read_jsonl(TRAFFIC)
    assert len(events) >= 300
    for event in events:
        assert event["kind"] in {"chat", "post"}, event
        assert isinstance(event["text"], str) and event["text"].strip(), event
        assert isinstance(event["expected"], list) and set(event["expected"]) <= CATEGORIES, event
        if event["kind"] == "post":
            assert event["post_kind"] in {"moment", "article", "comment", "ad"}, event
            assert event["account_type"] in {"personal", "public", "official"}, event
    expected = Counter(c for e in events for c in e["expected"])
    assert set(expected) == CATEGORIES
    assert sum(1 for e in events if not e["expected"]) / len(events) >= 0.5


def test_the_bundled_files_are_what_the_generators_write_from_their_seeds() -> None:
    """Importing a generator draws nothing; building from its seed gives the shipped file."""
    from devtools.samples import build_seed_corpus, build_traffic

    assert not hasattr(build_seed_corpus, "rng") and not hasattr(build_traffic, "rng")
    seed_rows = [
        {"text": text, "categories": list(cats), "lang": lang}
        for text, cats, lang in build_seed_corpus.build_rows(build_seed_corpus.SEED)
    ]
    assert seed_rows == _read_jsonl(SEED)
    assert build_traffic.build_traffic(build_traffic.SEED) == _read_jsonl(TRAFFIC)
    assert build_traffic.build_traffic(1)[:20] != _read_jsonl(TRAFFIC)[:20]
