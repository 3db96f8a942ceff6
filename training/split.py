"""Splits of multi-label rows, reproducible from a seed: stratified, and grouped by near-duplicates.

``grouped_split`` is what training uses: identical and near-identical texts (``group_ids``) land
on one side, so no test row has a twin in training. ``stratified_split`` is the older
row-by-row split, kept for callers that split rows with no duplicates.

Each row is put in a stratum by its rarest positive category (or "no positive") and by which
categories it is labelled for, so every category's positives and every source's partial labels
are spread across the three parts in proportion. Within a stratum the order is a seeded shuffle.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def stratified_split(
    Y: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(train, validation, test)`` for a label matrix of 1 / 0 / -1."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        msg = f"val_fraction={val_fraction}, test_fraction={test_fraction}: each in [0, 1), sum < 1"
        raise ValueError(msg)
    Y = np.asarray(Y)
    positives = (Y == 1).sum(axis=0)
    # rarer categories first, so a row positive for spam and extremism is stratified by extremism
    rarity = np.argsort(positives, kind="stable")
    strata: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for i, row in enumerate(Y):
        rarest = next((int(j) for j in rarity if row[j] == 1), -1)
        strata[(rarest, (row >= 0).tobytes())].append(i)
    rng = np.random.default_rng(seed)
    parts: tuple[list[int], list[int], list[int]] = ([], [], [])
    for key in sorted(strata):
        members = np.asarray(strata[key])[rng.permutation(len(strata[key]))]
        n_test = round(len(members) * test_fraction)
        n_val = round(len(members) * val_fraction)
        parts[2].extend(members[:n_test])
        parts[1].extend(members[n_test : n_test + n_val])
        parts[0].extend(members[n_test + n_val :])
    train, val, test = (np.sort(np.asarray(p, dtype=np.int64)) for p in parts)
    return train, val, test


# what two texts may differ by and still be one message: case, spacing, punctuation, digits
# and symbols (a scam re-sent with another amount, phone number or emoji is the same scam)
_NOT_LETTERS = re.compile(r"[\W\d_]+")


@lru_cache(maxsize=1 << 18)
def near_duplicate_key(text: str) -> str:
    """The text NFKC-folded and casefolded, reduced to its letters (and CJK characters).

    Cheaper than the model's full normalizer (which the features run anyway) on purpose: a
    recipe groups 100,000+ rows. Cached: a recipe groups each set for its held-out split and
    then all rows again.
    """
    key = _NOT_LETTERS.sub("", unicodedata.normalize("NFKC", text).casefold())
    return key or " ".join(text.split())


def group_ids(texts: Sequence[str]) -> np.ndarray:
    """One integer per text; identical and near-identical texts share it."""
    index: dict[str, int] = {}
    return np.fromiter(
        (index.setdefault(near_duplicate_key(t), len(index)) for t in texts),
        dtype=np.int64,
        count=len(texts),
    )


def writing_batches(origins: Sequence[str], topics: Sequence[str | None]) -> np.ndarray:
    """One integer per row; rows of one file on one topic share it, every other row is alone.

    ``origins`` are ``"path:line"`` (``training.labelled_data``). A writer's lines on one topic
    are alike: with some in training, the others score as if seen, and out-of-fold scores, and
    the thresholds chosen on them, are as optimistic as a test split with near-twins in training.
    """
    index: dict[tuple[str, str], int] = {}
    batches = np.empty(len(origins), dtype=np.int64)
    for i, (origin, topic) in enumerate(zip(origins, topics, strict=True)):
        key = (origin.rpartition(":")[0], topic) if topic else (origin, f"row {i}")
        batches[i] = index.setdefault(key, len(index))
    return batches


def joined_groups(*partitions: np.ndarray) -> np.ndarray:
    """One integer per row such that rows sharing a value in any of ``partitions`` share it
    (connected components: a near-duplicate of a batch's line joins the whole batch)."""
    n = len(partitions[0])
    columns, width = [], 0
    for partition in partitions:
        ids = np.unique(partition, return_inverse=True)[1].ravel()
        columns.append(ids + n + width)
        width += int(ids.max()) + 1 if n else 0
    links = sp.coo_matrix(
        (
            np.ones(n * len(partitions)),
            (np.tile(np.arange(n), len(partitions)), np.concatenate(columns)),
        ),
        shape=(n + width, n + width),
    )
    return connected_components(links, directed=False)[1][:n].astype(np.int64)


def grouped_split(
    Y: np.ndarray, groups: np.ndarray, *, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)``: every group on one side, stratified by rarest positive.

    A group's stratum is the rarest category any of its rows is positive for, and which
    categories its first row is labelled for; within a stratum, groups are shuffled and the
    first ``test_fraction`` of them (by row count) go to test.
    """
    if not 0 <= test_fraction < 1:
        msg = f"test_fraction={test_fraction}: must be in [0, 1)"
        raise ValueError(msg)
    Y = np.asarray(Y)
    groups = np.asarray(groups)
    positives = (Y == 1).sum(axis=0)
    rarity = np.argsort(positives, kind="stable")
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups.tolist()):
        members[g].append(i)
    strata: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for g, rows in members.items():
        block = Y[rows]
        rarest = next((int(j) for j in rarity if (block[:, j] == 1).any()), -1)
        strata[(rarest, (block[0] >= 0).tobytes())].append(g)
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for key in sorted(strata):
        chosen = strata[key]
        order = [chosen[k] for k in rng.permutation(len(chosen))]
        size = sum(len(members[g]) for g in order)
        taken = 0
        for g in order:
            if taken >= round(size * test_fraction):
                break
            test.extend(members[g])
            taken += len(members[g])
    is_test = np.zeros(len(groups), dtype=bool)
    is_test[test] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
