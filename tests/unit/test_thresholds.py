"""Thresholds from a clean-traffic budget: each operating point's cost, the review band, warnings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from training.thresholds import (
    Budget,
    budget_thresholds,
    clean_rows,
    most_recall_within,
    traffic_thresholds,
)


def _scores(n_pos: int, n_clean: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.ones(n_pos, dtype=np.int8), np.zeros(n_clean, dtype=np.int8)])
    s = np.concatenate([rng.beta(6, 2, n_pos), rng.beta(1, 8, n_clean)])
    return y, s


def test_block_and_review_keep_within_the_clean_budget() -> None:
    y, s = _scores(2_000, 20_000)
    clean = y == 0
    t, note = budget_thresholds(y, s, clean)
    assert t.review is not None and t.block is not None
    assert t.review < t.block
    flagged, blocked = (s[clean] >= t.review).mean(), (s[clean] >= t.block).mean()
    assert 0.009 <= flagged <= 0.01  # as much recall as the 1% budget allows: it is used up
    assert blocked <= 0.001
    points = note["operating_points"]
    assert points["block"]["precision"] >= 0.98
    assert points["review"]["clean_rate"] == pytest.approx(flagged)
    assert points["review"]["recall"] > points["block"]["recall"]
    assert note["review_band"] == "open" and not note["warnings"]


def test_unknown_rows_and_nan_scores_are_ignored() -> None:
    y, s = _scores(500, 5_000)
    y2 = np.concatenate([y, -np.ones(100, dtype=np.int8)])
    s2 = np.concatenate([s, np.full(100, np.nan)])
    assert budget_thresholds(y2, s2, y2 == 0)[0] == budget_thresholds(y, s, y == 0)[0]


def test_a_collapsed_review_band_is_said_not_silent() -> None:
    # 200 clean rows: 1% is 2 rows, 0.1% none; the top clean scores sit above every positive
    y = np.array([1] * 50 + [0] * 200, dtype=np.int8)
    s = np.concatenate([np.linspace(0.6, 0.9, 50), np.linspace(0.0, 0.3, 197), [0.95] * 3])
    t, note = budget_thresholds(y, s, y == 0)
    assert t.block is None or t.review is not None
    assert any("collapsed" in w or "never blocks" in w for w in note["warnings"])


def test_block_needs_precision_not_only_a_clean_budget() -> None:
    # other categories' positives (negatives here, not clean) score high: precision fails
    y = np.array([1] * 20 + [0] * 100 + [0] * 10_000, dtype=np.int8)
    s = np.concatenate([np.full(20, 0.9), np.full(100, 0.9), np.full(10_000, 0.01)])
    clean = np.arange(len(y)) >= 120
    t, note = budget_thresholds(y, s, clean)
    assert t.block is None
    assert any("never blocks" in w for w in note["warnings"])
    assert t.review is not None and t.review <= 0.9  # review may still flag them


def test_a_block_cut_holds_its_precision_with_one_false_positive_more() -> None:
    """A precision measured on few rows is luck: 120 positives above a cut and nothing else
    reads 100%, and one more clean row up there would make it 99.2%."""

    def block_of(n_pos: int, margin: int = 1) -> float | None:
        y = np.array([1] * n_pos + [0] * 10_000, dtype=np.int8)
        s = np.concatenate([np.full(n_pos, 0.97), np.linspace(0.0, 0.5, 10_000)])
        budget = Budget(block_precision=0.995, block_margin=margin)
        return budget_thresholds(y, s, y == 0, budget)[0].block

    assert block_of(120) is None  # 120 / 121 < 99.5%
    assert block_of(300) == pytest.approx(0.97)  # 300 / 301 >= 99.5%
    assert block_of(120, margin=0) == pytest.approx(0.97)


def test_a_block_cut_needs_its_support_in_positives_above_it() -> None:
    """A category the labels know from a few hundred rows reviews until more labels back a
    block: 250 positives alone above a cut certify 99.5% with the margin, not a support of 300."""

    def block_of(n_pos: int, support: int) -> tuple[float | None, list[str]]:
        y = np.array([1] * n_pos + [0] * 10_000, dtype=np.int8)
        s = np.concatenate([np.full(n_pos, 0.97), np.linspace(0.0, 0.5, 10_000)])
        budget = Budget(block_precision=0.995, block_support=support)
        chosen, note = budget_thresholds(y, s, y == 0, budget)
        return chosen.block, note["warnings"]

    assert block_of(250, support=0)[0] == pytest.approx(0.97)
    block, warnings = block_of(250, support=300)
    assert block is None
    assert any("on 300 positives" in w and "never blocks" in w for w in warnings)
    assert block_of(300, support=300)[0] == pytest.approx(0.97)


def test_block_is_as_rare_on_a_public_sets_harmless_rows_as_on_clean_chat() -> None:
    # 2,000 rows known not to be this category but not known clean (a ham SMS, an anti-bias
    # comment) score like positives in their top 1%: precision alone would still block them
    rng = np.random.default_rng(1)
    y_pos, s_pos = np.ones(20_000, dtype=np.int8), rng.beta(8, 2, 20_000)
    y_neg = np.zeros(2_000, dtype=np.int8)
    s_neg = np.concatenate([rng.beta(1, 8, 1_980), rng.uniform(0.85, 0.95, 20)])
    y_clean, s_clean = np.zeros(5_000, dtype=np.int8), rng.beta(1, 8, 5_000)
    y = np.concatenate([y_pos, y_neg, y_clean])
    s = np.concatenate([s_pos, s_neg, s_clean])
    clean = np.arange(len(y)) >= 22_000
    harmless = (np.arange(len(y)) >= 20_000) & ~clean
    t, _ = budget_thresholds(y, s, clean, harmless=harmless)
    assert t.block is not None
    assert (s_neg >= t.block).mean() <= 0.001
    # without them, the clean rows alone let the block take the 20 high ones
    alone, _ = budget_thresholds(y, s, clean)
    assert alone.block is not None and (s_neg >= alone.block).mean() >= 0.005


def test_block_is_as_rare_on_the_hard_negatives_as_on_all_clean_chat() -> None:
    # 8,000 everyday rows far below, 1,000 hard negatives of which 8 score among the positives:
    # 8 of 9,000 clean rows is within 0.1%, 8 of 1,000 bank notices is not
    rng = np.random.default_rng(3)
    y = np.array([1] * 5_000 + [0] * 9_000, dtype=np.int8)
    hard_scores = np.concatenate([rng.beta(2, 6, 992), rng.uniform(0.9, 0.99, 8)])
    s = np.concatenate([rng.uniform(0.85, 1.0, 5_000), rng.beta(1, 12, 8_000), hard_scores])
    clean = y == 0
    hard = np.arange(len(y)) >= 13_000
    t, _ = budget_thresholds(y, s, clean, hard=hard)
    assert t.block is not None
    assert (hard_scores >= t.block).mean() <= 0.001
    # over all clean rows alone, the block takes them
    alone, _ = budget_thresholds(y, s, clean)
    assert alone.block is not None and (hard_scores >= alone.block).sum() >= 5


def test_block_is_clamped_to_the_floor_with_a_warning() -> None:
    y = np.array([1] * 100 + [0] * 10_000, dtype=np.int8)
    s = np.concatenate([np.full(100, 0.3), np.full(10_000, 0.01)])
    t, note = budget_thresholds(y, s, y == 0, Budget(min_block=0.5))
    assert t.block is None
    assert any("clamped" in w for w in note["warnings"])


def _kinds(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """500 positives, 2,000 everyday rows, 1,000 hard negatives scoring between the two."""
    rng = np.random.default_rng(seed)
    y = np.array([1] * 500 + [0] * 3_000, dtype=np.int8)
    s = np.concatenate([rng.beta(6, 2, 500), rng.beta(1, 12, 2_000), rng.beta(3, 4, 1_000)])
    hard = np.arange(len(y)) >= 2_500
    return y, s, hard


def test_review_budget_is_per_kind_everyday_and_hard_negatives() -> None:
    y, s, hard = _kinds()
    clean = y == 0
    t, note = budget_thresholds(y, s, clean, hard=hard)
    assert t.review is not None
    everyday_rate = (s[clean & ~hard] >= t.review).mean()
    hard_rate = (s[hard] >= t.review).mean()
    # one 1% budget over all 3,000 clean rows would stop at 30 hard negatives (3%): the hard
    # negatives get their own budget (4.5%), and everyday chat stays within its 1%
    allowed = Budget().review_hard_negative_rate
    assert allowed - 0.005 <= hard_rate <= allowed
    assert everyday_rate <= 0.01
    single = budget_thresholds(y, s, clean)[0]
    assert single.review is not None and t.review < single.review
    assert (s[y == 1] >= t.review).mean() > (s[y == 1] >= single.review).mean()
    point = note["operating_points"]["review"]
    assert point["hard_negative_rate"] == pytest.approx(hard_rate)
    assert point["everyday_rate"] == pytest.approx(everyday_rate)
    # block is still one budget over every clean row, hard negatives included
    assert t.block is not None and (s[clean] >= t.block).mean() <= 0.001


def test_everyday_rows_keep_their_own_one_percent() -> None:
    # hard negatives score low, everyday rows have a high tail: a single budget over both would
    # flag 2% of everyday chat
    y = np.array([1] * 200 + [0] * 2_000, dtype=np.int8)
    everyday = np.concatenate([np.linspace(0.7, 0.85, 30), np.full(970, 0.05)])
    s = np.concatenate([np.full(200, 0.9), everyday, np.full(1_000, 0.01)])
    hard = np.arange(len(y)) >= 1_200
    single = budget_thresholds(y, s, y == 0)[0]
    assert single.review is not None and (everyday >= single.review).mean() > 0.01
    t = budget_thresholds(y, s, y == 0, hard=hard)[0]
    assert t.review is not None and (everyday >= t.review).mean() <= 0.01


def test_traffic_budget_per_kind_holds_for_the_union_of_categories() -> None:
    y, s, hard = _kinds()
    y2, s2, _ = _kinds(seed=2)
    Y = np.stack([y, np.roll(y2, 7)], axis=1)
    scores = np.stack([s, np.roll(s2, 7)], axis=1)
    _, _, cost = traffic_thresholds(Y, scores, ("a", "b"), hard=hard)
    assert cost["everyday_flagged"] <= 0.01
    assert cost["hard_negatives_flagged"] <= Budget().review_hard_negative_rate
    assert cost["clean_blocked"] <= 0.001
    assert cost["hard_negative_rows"] == int((hard & ~(Y == 1).any(axis=1)).sum())


def test_block_budget_holds_for_the_union_on_the_public_sets_harmless_rows() -> None:
    # two categories, each alone blocking its three highest public rows (just under 0.1% of
    # 4,000): different rows, so together they would block 0.15% of the ham
    harmful, chat, public = 200, 2_000, 4_000
    n = 2 * harmful + chat + public
    Y = np.zeros((n, 3), dtype=np.int8)
    Y[:harmful, 0] = 1
    Y[harmful : 2 * harmful, 1] = 1
    Y[-public:, 2] = -1  # the public set says nothing of the third category
    scores = np.zeros((n, 3))
    scores[:harmful, 0] = scores[harmful : 2 * harmful, 1] = 1.0
    start = 2 * harmful + chat
    scores[start : start + 20, 0] = np.linspace(0.999, 0.96, 20)
    scores[start + 20 : start + 40, 1] = np.linspace(0.999, 0.96, 20)
    scores[-public:, 2] = np.nan
    chosen, _, cost = traffic_thresholds(Y, scores, ("a", "b", "c"))
    assert cost["public_rows"] == public
    assert 0 < cost["public_blocked"] <= 0.001
    assert chosen["a"].block is not None and chosen["b"].block is not None
    assert cost["clean_blocked"] <= 0.001


@pytest.mark.parametrize(
    "kwargs",
    [
        {"block_clean_rate": -0.1},
        {"review_clean_rate": 0.7},
        {"review_hard_negative_rate": 0.6},
        {"review_public_rate": 0.5},
        {"block_precision": 0.3},
        {"min_review": 0.6},
        {"block_clean_rate": 0.02, "review_clean_rate": 0.01},
        {"block_margin": -1},
        {"block_support": -1},
    ],
)
def test_budget_ranges_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Budget(**kwargs)


def test_clean_rows_are_known_negative_for_everything() -> None:
    Y = np.array([[0, 0], [1, 0], [-1, 0], [0, 1]])
    assert clean_rows(Y).tolist() == [True, False, False, False]
    # with no fully known row, positive for nothing is the best there is
    partial = np.array([[-1, 0], [1, -1], [0, -1]])
    assert clean_rows(partial).tolist() == [True, False, True]


def _two_categories() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two categories over 200 harmful and 1,000 clean rows (no hard negatives). In ``a`` the
    harmful rows sit just below a ladder of clean rows; in ``b`` each clean row hides one."""
    rng = np.random.default_rng(3)
    n_harm, n_clean = 200, 1_000
    Y = np.zeros((n_harm + n_clean, 2), dtype=np.int8)
    Y[:100, 0] = 1  # 100 harmful rows of category a
    Y[100:200, 1] = 1  # 100 of category b
    scores = rng.uniform(0.0, 0.2, size=Y.shape)
    scores[:100, 0] = rng.uniform(0.60, 0.69, 100)  # a: all below one clean row at 0.7
    scores[200, 0] = 0.7
    scores[100:200, 1] = np.linspace(0.5, 0.99, 100)  # b: spread among clean rows
    scores[201:221, 1] = np.linspace(0.52, 0.98, 20)
    return Y, scores, np.zeros(len(Y), dtype=bool)


def test_review_budget_goes_where_it_flags_the_most_harm() -> None:
    Y, scores, hard = _two_categories()
    clean = clean_rows(Y)
    budget = Budget(review_clean_rate=0.001)  # one clean row of 1,000 may be flagged
    cuts = most_recall_within(Y, scores, [0.99, 0.99], clean & ~hard, hard, budget)
    flagged = np.any(scores >= np.asarray(cuts), axis=1)
    assert int(flagged[clean].sum()) <= 1
    # passing a's one clean row flags its 100 harmful rows; b's top clean row buys about 5
    assert cuts[0] <= 0.6
    assert flagged[:100].all()
    assert cuts[1] > 0.98  # b keeps only what comes free (above its top clean row)


def test_review_budget_counts_harmful_rows_with_their_weight() -> None:
    Y, scores, hard = _two_categories()
    clean = clean_rows(Y)
    weight = np.ones(len(Y))
    weight[100:200] = 100.0  # b's harmful rows are what this platform's traffic looks like
    budget = Budget(review_clean_rate=0.001)
    cuts = most_recall_within(Y, scores, [0.99, 0.99], clean & ~hard, hard, budget, weight)
    assert cuts[1] < 0.96  # passing b's top clean row (0.98) now buys more than all of a
    assert cuts[0] > 0.69


def test_review_cuts_never_rise_above_the_block_cuts() -> None:
    y, s, hard = _kinds()
    Y = y.reshape(-1, 1)
    everyday = clean_rows(Y) & ~hard
    cuts = most_recall_within(Y, s.reshape(-1, 1), [0.3], everyday, hard, Budget())
    assert cuts[0] <= 0.3
    thresholds, notes, _ = traffic_thresholds(Y, s.reshape(-1, 1), ("a",), hard=hard)
    t = thresholds["a"]
    assert t.review is not None and t.block is not None and t.review <= t.block
    assert notes["a"]["operating_points"]["review"]["threshold"] == t.review


def test_review_never_goes_below_its_floor_however_cheap() -> None:
    # 100 harmful rows over 0.1-0.9 and clean chat far below them: the budget would review all
    Y = np.r_[np.ones(100), np.zeros(1_000)].astype(np.int8).reshape(-1, 1)
    scores = np.r_[np.linspace(0.1, 0.9, 100), np.full(1_000, 0.01)].reshape(-1, 1)
    everyday, no_hard = clean_rows(Y), np.zeros(1_100, dtype=bool)
    unbounded = most_recall_within(Y, scores, [0.95], everyday, no_hard, Budget(min_review=0.0))
    assert unbounded[0] <= 0.1
    floored = most_recall_within(Y, scores, [0.95], everyday, no_hard, Budget(min_review=0.4))
    assert floored[0] == 0.4  # down to the floor, not one step further


def test_public_sets_harmless_rows_are_a_review_budget_of_their_own() -> None:
    # one category: 100 harmful rows spread over 0.3-0.9, 1,000 clean chat rows far below, and
    # 1,000 public-set rows that say nothing but "not this category", scored among the harmful
    rng = np.random.default_rng(5)
    harm = np.linspace(0.3, 0.9, 100)
    chat = rng.uniform(0.0, 0.1, 1_000)
    public = rng.uniform(0.2, 0.8, 1_000)
    Y = np.concatenate([np.ones(100), np.zeros(1_000), np.zeros(1_000)]).astype(np.int8)
    Y = np.column_stack([Y, np.r_[np.zeros(1_100), -np.ones(1_000)].astype(np.int8)])
    scores = np.column_stack([np.r_[harm, chat, public], np.full(2_100, np.nan)])
    scores[:1_100, 1] = 0.0
    everyday = clean_rows(Y)
    assert not everyday[1_100:].any()  # the public rows are not clean chat
    harmless = np.r_[np.zeros(1_100, bool), np.ones(1_000, bool)]
    filled = np.nan_to_num(scores, nan=-1.0)
    no_hard = np.zeros(2_100, dtype=bool)
    free = most_recall_within(
        Y, filled, [0.95, None], everyday, no_hard, Budget(review_public_rate=0.49, min_review=0.0)
    )
    held = most_recall_within(
        Y,
        filled,
        [0.95, None],
        everyday,
        no_hard,
        Budget(review_public_rate=0.03),
        public=harmless,
    )
    flagged_public = (filled[1_100:, 0] >= held[0]).sum()
    assert free[0] <= 0.31  # without the public budget every harmful row is reviewed
    assert 0 < flagged_public <= 30  # 3% of 1,000
    assert held[0] > 0.7
    _, _, cost = traffic_thresholds(Y, scores, ("a", "b"), Budget(review_public_rate=0.03))
    assert cost["public_rows"] == 1_000
    assert 0 < cost["public_flagged"] <= 0.03
