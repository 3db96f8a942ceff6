"""Stratified train / validation / test split of multi-label rows, reproducible from a seed.

Each row is put in a stratum by its rarest positive category (or "no positive") and by which
categories it is labelled for, so every category's positives and every source's partial labels
are spread across the three parts in proportion. Within a stratum the order is a seeded shuffle.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


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
