"""Grouped splits and folds: near-identical texts never straddle train and test (or two folds)."""

from __future__ import annotations

import numpy as np

from models.classifier import grouped_folds
from training.split import (
    group_ids,
    grouped_split,
    joined_groups,
    near_duplicate_key,
    writing_batches,
)


def test_near_identical_texts_share_a_group() -> None:
    same = [
        "加微信 领红包 日结300!!",
        "加微信领红包，日结500",
        "Win a FREE prize now: call 0800 123 456",
        "win a free prize now call 0800 999 000 🎁",
    ]
    ids = group_ids([*same, "see you at 7", "see you at 8 tomorrow"])
    assert ids[0] == ids[1] and ids[2] == ids[3]
    assert ids[0] != ids[2]
    assert len(set(ids.tolist())) == 4
    assert near_duplicate_key("...") != ""  # punctuation-only text still gets a key


def test_a_files_lines_on_one_topic_form_one_group_with_their_near_twins() -> None:
    origins = ["a.jsonl:1", "a.jsonl:2", "a.jsonl:3", "b.jsonl:1", "seed.jsonl:1", "seed.jsonl:2"]
    topics = ["bills", "bills", "pets", "bills", None, None]
    batches = writing_batches(origins, topics)
    # one file on one topic; another file's "bills" and rows without a topic stand alone
    assert batches[0] == batches[1] and len(set(batches.tolist())) == 5
    # row 2 is a near-twin of row 4: their batches join, and every row of them
    twins = np.array([0, 1, 2, 3, 2, 4])
    joined = joined_groups(twins, batches)
    assert joined[0] == joined[1] and joined[2] == joined[4]
    assert len({joined[0], joined[2], joined[3], joined[5]}) == 4


def test_grouped_split_keeps_groups_whole_and_is_stratified() -> None:
    rng = np.random.default_rng(3)
    n = 3_000
    groups = rng.integers(0, 900, n)  # about 3 copies of each text
    Y = np.zeros((n, 2), dtype=np.int8)
    Y[groups < 90, 0] = 1  # whole groups are positive, as copies of one text are
    Y[(groups >= 90) & (groups < 120), 1] = 1
    train, test = grouped_split(Y, groups, test_fraction=0.2, seed=1)
    assert sorted([*train.tolist(), *test.tolist()]) == list(range(n))
    assert not set(groups[train].tolist()) & set(groups[test].tolist())
    for j in (0, 1):
        share = (Y[test, j] == 1).sum() / (Y[:, j] == 1).sum()
        assert 0.1 < share < 0.3
    again, _ = grouped_split(Y, groups, test_fraction=0.2, seed=1)
    assert np.array_equal(train, again)


def test_folds_keep_groups_whole_and_spread_positives() -> None:
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 400, 2_000)
    y = (groups < 25).astype(np.int8)
    folds = grouped_folds(groups, y, 5, seed=0)
    for g in np.unique(groups):
        assert len(set(folds[groups == g].tolist())) == 1
    positive_groups_per_fold = [len(np.unique(groups[(folds == k) & (y == 1)])) for k in range(5)]
    assert max(positive_groups_per_fold) - min(positive_groups_per_fold) <= 1
