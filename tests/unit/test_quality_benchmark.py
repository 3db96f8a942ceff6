"""The quality benchmark's metric and alignment helpers (the benchmark itself is not a test)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def quality() -> ModuleType:
    return load_benchmark("quality")


def test_metrics_reproduce_the_paper_figures(quality: ModuleType) -> None:
    # Almeida et al. 2011, linear SVM: TP 423, FN 86, FP 6, TN 3385 on the 3,900-message test
    y = np.array([1] * 509 + [0] * 3391, dtype=np.int8)
    flagged = np.array([1] * 423 + [0] * 86 + [1] * 6 + [0] * 3385, dtype=bool)
    m = quality.binary_metrics(y, flagged)
    assert round(m["mcc"], 3) == 0.893
    assert round(100 * m["recall"], 2) == 83.10  # spam caught
    assert round(100 * m["negatives_flagged"], 2) == 0.18  # blocked ham
    assert round(100 * m["accuracy"], 2) == 97.64


def test_metrics_ignore_unknown_labels(quality: ModuleType) -> None:
    m = quality.binary_metrics(np.array([1, 0, -1]), np.array([True, False, True]))
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 0, 0, 1)


def test_the_ceiling_at_a_budget_flags_the_most_positives_it_allows(quality: ModuleType) -> None:
    y = np.array([1, 0, 1, 1, 0, 1, 0, -1] + [0] * 1_000, dtype=np.int8)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.95] + [0.0] * 1_000)
    # 0.1% of 1,003 negatives is one: above the second highest negative (0.5), not at it
    m = quality.most_within(y, scores, 0.001)
    assert (m["tp"], m["fp"], m["fn"]) == (3, 1, 1)
    m = quality.most_within(y, scores, 0.0)
    assert (m["tp"], m["fp"]) == (1, 0)


def test_fbs_and_ham_are_brought_to_one_form(quality: ModuleType) -> None:
    assert quality.fbs_aligned("贷款 成功 送 DIGIT 元 详询 CELLPHONE 点击 URLdfge ") == (
        "贷款成功送 元详询 点击"
    )
    assert quality.ham_aligned("您尾号1407的账户 详询 95526 http://x.cn/a") == "您尾号 的账户 详询"
