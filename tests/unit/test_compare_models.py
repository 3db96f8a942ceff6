"""The model comparison's split of other writers' clean text (the benchmark itself is not a test)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.benchmark_scripts import load_benchmark
from training import catalogue
from training.public_datasets import DEFAULT_ROOT

SMS = "sms_spam_collection_v1"


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    return load_benchmark("compare_models")


def test_public_rows_are_a_figure_of_their_own(compare: ModuleType) -> None:
    rows = [
        {"text": "a", "kind": "public"},
        {"text": "b", "kind": "public"},
        {"text": "c", "kind": "everyday"},
        {"text": "d", "categories": ["spam"]},
    ]
    got = compare.figures(["review", "allow", "allow", "block"], rows)
    assert got["public sets' harmless rows flagged"] == "50.0% (1/2)"
    assert got["everyday flagged"] == "0.0% (0/1)"  # public rows are not counted as chat
    assert got["harmful flagged"] == "100.0% (1/1)"


@pytest.mark.skipif(
    not (DEFAULT_ROOT / SMS / "data.jsonl").is_file(),
    reason=f"public datasets absent ({DEFAULT_ROOT})",
)
def test_public_rows_are_held_out_and_positive_for_nothing(
    compare: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalogue, "CATALOGUE", (catalogue.entry(SMS),))
    rows = compare.public_harmless()
    data = catalogue.entry(SMS).loader()(None)
    _, test = catalogue.held_out(catalogue.entry(SMS), data)
    ham = {r.text for r, held in zip(data.rows, test, strict=True) if held and not r.labels["spam"]}
    texts = [r["text"] for r in rows]
    assert len(texts) > 1000
    assert set(texts) <= ham  # held out, and not spam
