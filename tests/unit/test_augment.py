"""Misspelled copies: what they change, what they keep, and that a copy never crosses a fold."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from tests.unit.toy_corpus import LABELS, toy_data
from training.augment import misspell, misspelled_copies
from training.labelled_data import LabelledRow
from training.train import TrainConfig, train_model


def _toy_rows() -> list[LabelledRow]:
    """The toy corpus as completely labelled rows (the kind that gets copies)."""
    texts, Y = toy_data(300)
    return [
        LabelledRow(t, {k: int(v) for k, v in zip(LABELS, y, strict=True) if v >= 0})
        for t, y in zip(texts, Y, strict=True)
    ]


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_each_changed_word_is_one_or_two_edits_and_keeps_its_ends() -> None:
    text = "please verify your account password before tomorrow, transfer the deposit today"
    changed = 0
    for rate in (0.25, 1.0):
        out = misspell(text, rate)
        assert len(out.split()) == len(text.split())
        for before, after in zip(text.split(), out.split(), strict=True):
            if before != after:
                changed += 1
                # a swap is two single-letter edits; the rest are one
                assert 1 <= _edit_distance(before, after) <= 2
                assert before[0] == after[0] and before[-1] == after[-1]
    assert changed >= 8


def test_short_words_chinese_and_numbers_stay() -> None:
    for text in ("ok see you at 7", "加我微信领红包 13912345678", "a b c d e", "😂😂😂"):
        assert misspell(text, 1.0) == text


def test_the_same_text_gets_the_same_copy() -> None:
    text = "your parcel delivery failed, update the address within twelve hours"
    assert misspell(text) == misspell(text)
    assert misspell(text, 1.0) != text


def test_copies_keep_labels_and_kind_and_name_their_original() -> None:
    rows = [
        LabelledRow("claim your reward, verify the account today", {"fraud": 1}, kind=None),
        LabelledRow("dinner tomorrow with grandma and grandpa", {}, kind="everyday"),
        LabelledRow("public spam corpus message about winning", {"spam": 1}, complete=False),
        LabelledRow("好的", {}),
    ]
    copies = misspelled_copies([replace(r) for r in rows])
    # partly labelled (public) rows and rows without a longer English word get no copy
    assert {c.copy_of for c in copies} <= {rows[0].text, rows[1].text}
    for copy in copies:
        original = next(r for r in rows if r.text == copy.copy_of)
        assert copy.text != original.text
        assert copy.labels == original.labels and copy.kind == original.kind
        assert copy.complete
    assert misspelled_copies(copies) == []  # a copy is never copied again


def test_a_copy_falls_in_its_originals_fold_and_is_never_tested() -> None:
    rows = _toy_rows()
    copies = misspelled_copies(rows)
    assert copies
    result = train_model([*rows, *copies], TrainConfig(test_fraction=0.3, folds=3))
    tested = {r.text for r in result.test_rows}
    assert tested and not any(r.copy_of is not None for r in result.test_rows)
    seen = set(result.seen_texts)
    # a tested row's copy was not trained on either: it went with its original
    assert not {c.text for c in copies if c.copy_of in tested} & seen
    assert any(re.search(r"[a-z]{4,}", t) for t in tested)


def test_the_default_recipe_trains_on_copies_and_the_seed_recipe_does_not(tmp_path: Path) -> None:
    from training.recipes import recipe_rows

    data = recipe_rows("default", mirror=tmp_path / "none")
    copies = [r for r in data.rows if r.copy_of is not None]
    originals = {r.text for r in data.rows if r.copy_of is None}
    assert len(copies) == data.snapshot["misspelled_copies"]["rows"] > 1000
    assert all(c.copy_of in originals for c in copies)
    assert not any(r.copy_of for r in recipe_rows("seed").rows)


def test_copies_train_but_the_budget_is_counted_on_real_rows_only() -> None:
    rows = _toy_rows()
    copies = misspelled_copies(rows)
    clean = sum(1 for r in rows if not any(v == 1 for v in r.labels.values()))
    result = train_model([*rows, *copies], TrainConfig(final_fit=True, folds=3))
    assert len(result.seen_texts) == len(rows) + len(copies)
    assert result.clean_cost["clean_rows"] == clean
