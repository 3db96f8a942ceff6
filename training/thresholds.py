"""Per-category thresholds from a false-positive budget on clean traffic, chosen on scores the
model did not train on (out-of-fold).

A platform states what it can afford, not a precision target on an arbitrary validation mix:

- ``block`` (acts alone): the lowest score at which at most ``block_clean_rate`` of clean rows
  (0.1%), as few of the hard negatives among them, and as few of the partly labelled rows
  positive nowhere (``harmless``: a public set's ham), are blocked *and* precision among the
  rows that decide the category is at least ``block_precision`` (98%), counting one false
  positive more than the rows show (``block_margin``), so few rows cannot certify it by luck,
  and with at least ``block_support`` positives above the cut;
- ``review`` (a moderator looks): the lowest score at which at most ``review_clean_rate`` of
  everyday clean rows (1%) *and* at most ``review_hard_negative_rate`` of hard-negative rows (4.5%:
  anti-fraud notices, news about extremism, jokes that look harmful) are flagged: as much recall
  as both budgets allow. Clean rows without a kind (a public set's negatives) count as everyday.
  One budget over both would be spent on the hard negatives and leave review strict on chat.
  A third, ``review_public_rate`` (3%), holds the partly labelled rows positive nowhere (SMS ham,
  tweets that are not offensive): other writers' ordinary text, which the chat corpus cannot
  stand for.

The budget is for clean traffic as a whole (``traffic_thresholds``): a message is flagged when any
category flags it. Each category gets an equal share of the block budget, as large as the union
allows; the review budget goes to the categories where it flags the most harmful rows per clean
row spent (``most_recall_within``).
"Clean" rows are those known negative for every category (``clean_rows``). When the
review budget allows no more than blocking does, the band has collapsed: that is said in the
note (``review_band``), never silent. Each operating point is reported with its cost: clean rows
flagged, recall and precision at that threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.policy import Thresholds


@dataclass(frozen=True)
class Budget:
    """What clean traffic may cost per category, and the precision a block needs."""

    block_clean_rate: float = 0.001
    block_precision: float = 0.98
    review_clean_rate: float = 0.01
    # 4.5%, under the 5% a platform may allow: the served model's rate on unseen hard negatives
    # scatters around the out-of-fold one (docs/measurements.md, "Where the default model stands")
    review_hard_negative_rate: float = 0.045
    # partly labelled rows positive nowhere (a public set's ham, tweets that are not hate): other
    # sources' ordinary text, which the chat corpus cannot stand for
    review_public_rate: float = 0.03
    # a block cut must keep ``block_precision`` with this many more false positives above it
    # than the out-of-fold rows show: a category with few positives (extremism: 724) otherwise
    # set its cut on one lucky fold, and the served model blocked a memorial of an attack
    block_margin: int = 1
    # and at least this many positives above it out of fold: a category the labels know from few
    # rows reviews until the labels back a block (the default recipe's extremism, 771 rows, cut
    # a block on 228 of them and blocked a memorial of an attack again; docs/measurements.md)
    block_support: int = 0
    # never block where the calibrated model itself says "more likely clean"
    min_block: float = 0.5
    # nor review far below it: out of fold the review budget could take a category's cut to 0.24
    # on a handful of clean rows, and the served model's scores on unseen short chat ("saved":
    # sexual 0.41) scatter down there (docs/measurements.md, "Chain letters, textspeak, a review floor")
    min_review: float = 0.45

    def __post_init__(self) -> None:
        rates = ("block_clean_rate", "review_clean_rate", "review_hard_negative_rate")
        for name in (*rates, "review_public_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.5:
                msg = f"{name}={value!r}: a share of clean traffic in [0, 0.5)"
                raise ValueError(msg)
        if not 0.5 <= self.block_precision <= 1.0:
            msg = f"block_precision={self.block_precision!r}: must be in [0.5, 1]"
            raise ValueError(msg)
        if self.review_clean_rate < self.block_clean_rate:
            msg = (
                f"review_clean_rate={self.review_clean_rate!r} is below "
                f"block_clean_rate={self.block_clean_rate!r}: reviewing flags more than blocking"
            )
            raise ValueError(msg)
        if self.block_margin < 0:
            msg = f"block_margin={self.block_margin!r}: a count of false positives, >= 0"
            raise ValueError(msg)
        if self.block_support < 0:
            msg = f"block_support={self.block_support!r}: a count of positive rows, >= 0"
            raise ValueError(msg)
        if not 0.0 <= self.min_block <= 1.0:
            msg = f"min_block={self.min_block!r}: must be in [0, 1]"
            raise ValueError(msg)
        if not 0.0 <= self.min_review <= self.min_block:
            msg = f"min_review={self.min_review!r}: must be in [0, min_block]"
            raise ValueError(msg)


def operating_point(
    y: np.ndarray,
    scores: np.ndarray,
    clean: np.ndarray,
    threshold: float | None,
    hard: np.ndarray | None = None,
) -> dict[str, Any]:
    """Recall, precision and clean rows flagged when flagging ``scores >= threshold``: all clean
    rows, the everyday ones and the hard negatives (``hard``) apart."""
    known = y >= 0
    flagged = scores >= threshold if threshold is not None else np.zeros(len(y), dtype=bool)
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & known & (y == 0)).sum())
    positives = int((y == 1).sum())
    clean_flagged = int((flagged & clean).sum())
    n_clean = int(clean.sum())
    hard = np.zeros(len(y), dtype=bool) if hard is None else hard
    everyday, hard = clean & ~hard, clean & hard
    return {
        "threshold": threshold,
        "recall": tp / positives if positives else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "clean_flagged": clean_flagged,
        "clean_rows": n_clean,
        "clean_rate": clean_flagged / n_clean if n_clean else 0.0,
        "everyday_rate": float(flagged[everyday].mean()) if everyday.any() else 0.0,
        "hard_negative_rate": float(flagged[hard].mean()) if hard.any() else 0.0,
    }


def budget_thresholds(
    y: np.ndarray,
    scores: np.ndarray,
    clean: np.ndarray,
    budget: Budget | None = None,
    hard: np.ndarray | None = None,
    harmless: np.ndarray | None = None,
    review: float | None = None,
) -> tuple[Thresholds, dict[str, Any]]:
    """Thresholds of one category and a note with each operating point and any warning.

    Args:
        y: 1 / 0 / -1 (unknown) per row for this category.
        scores: out-of-fold probabilities (NaN where unknown is fine: those rows are skipped).
        clean: True for the rows that count as clean traffic (negative here, positive nowhere).
        hard: True for the hard negatives among them (review budget of their own); None: none.
        harmless: True for partly labelled rows positive nowhere (a ham SMS, a "safe" comment):
            not known clean, but a block on them costs as much; None: none.
        review: a review cut chosen for the traffic as a whole (``traffic_thresholds``); None:
            the lowest cut within this category's own review budget.
    """
    budget = budget or Budget()
    usable = (y >= 0) & ~np.isnan(scores)
    hard = np.zeros(len(y), dtype=bool) if hard is None else np.asarray(hard, dtype=bool)
    harmless = np.zeros(len(y), dtype=bool) if harmless is None else np.asarray(harmless, bool)
    y, scores, clean = y[usable], scores[usable], clean[usable] & (y[usable] == 0)
    hard = hard[usable] & clean
    harmless = harmless[usable] & (y == 0) & ~clean
    warnings: list[str] = []
    if not (y == 1).any() or not clean.any():
        warnings.append("no positives or no clean rows: nothing to choose thresholds on")
        return Thresholds(review=None, block=None), {"warnings": warnings, "review_band": "none"}

    def lowest_within(rate: float, rows: np.ndarray) -> float:
        """The lowest cut that flags at most ``rate`` of ``rows`` (just above the next one)."""
        ranked = np.sort(scores[rows])[::-1]  # highest first
        allowed = int(np.floor(rate * len(ranked)))
        if allowed >= len(ranked):
            return 0.0
        return float(np.nextafter(ranked[allowed], np.inf))

    if review is None:  # both review budgets hold: the stricter of the two cuts
        review = max(
            lowest_within(budget.review_clean_rate, clean & ~hard),
            lowest_within(budget.review_hard_negative_rate, hard),
        )
    # a block must be as rare on a public set's harmless rows (an anti-bias comment, a ham SMS)
    # as on clean chat: they are traffic too, only less completely labelled; and as rare on the
    # hard negatives, the clean rows nearest the line, which a budget over all clean rows would
    # let one category spend on them alone (six of 2,500 bank notices is 0.24%)
    block_floor = max(
        lowest_within(budget.block_clean_rate, clean),
        lowest_within(budget.block_clean_rate, hard),
        lowest_within(budget.block_clean_rate, harmless),
    )
    block = _precise_cut(y, scores, block_floor, budget)
    if block is not None and block < budget.min_block:
        warnings.append(f"block {block:.3f} raised to the floor {budget.min_block} (clamped)")
        block = _precise_cut(y, scores, budget.min_block, budget)
    if block is None:
        backed = f" on {budget.block_support} positives" if budget.block_support else ""
        warnings.append(
            f"no score reaches precision {budget.block_precision:.0%}{backed} within the block "
            "budget: this category never blocks on its own"
        )
    if block is not None and review >= block:
        review = block
        band = "collapsed"
        warnings.append(
            "review band collapsed: the review budget flags nothing beyond what block does"
        )
    else:
        band = "open"
    points = {
        "review": operating_point(y, scores, clean, review, hard),
        "block": operating_point(y, scores, clean, block, hard),
    }
    if points["review"]["recall"] < 0.5:
        warnings.append(
            f"review recall only {points['review']['recall']:.0%} within the clean-traffic budget"
        )
    note: dict[str, Any] = {"warnings": warnings, "review_band": band, "operating_points": points}
    return Thresholds(review=review, block=block), note


def clean_rows(Y: np.ndarray) -> np.ndarray:
    """Rows known to be clean: negative for every category.

    A partly labelled row (a ham SMS, a "not hate" tweet) is not known to be clean: the set
    never asked whether it is spam or fraud, and counting it as clean traffic would make the
    budget pay for offensive tweets and bulk notices. Only when no row is fully known (training
    on partly labelled data alone) are rows positive for nothing used instead.
    """
    Y = np.asarray(Y)
    known_clean = (Y == 0).all(axis=1)
    return known_clean if known_clean.any() else ~(Y == 1).any(axis=1)


def _precise_cut(y: np.ndarray, scores: np.ndarray, floor: float, budget: Budget) -> float | None:
    """The lowest score ``>= floor`` at which flagging reaches the budget's block precision with
    ``block_margin`` more false positives than the rows show and ``block_support`` positives, or
    None."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], np.cumsum(y[order] == 1)
    # flagging at a cut takes every row scoring >= it: look at the last of each run of ties
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    flagged = last + 1 + budget.block_margin
    reach = (
        (ranked[last] >= floor)
        & (hits[last] >= max(1, budget.block_support))
        & (hits[last] >= budget.block_precision * flagged)
    )
    candidates = last[reach]
    return float(ranked[candidates[-1]]) if len(candidates) else None


def traffic_thresholds(
    Y: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    budget: Budget | None = None,
    hard: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> tuple[dict[str, Thresholds], dict[str, dict[str, Any]], dict[str, Any]]:
    """Thresholds of every category such that the budget holds for clean traffic as a whole.

    A message is flagged when *any* category flags it, so six categories each using 1% could
    flag up to 6% of clean traffic. Blocks: each category gets the same share of the block
    budget, raised (bisection) as far as the union of all categories stays within it, on clean
    chat, on its hard negatives and on the public sets' harmless rows alike (each category's own
    cut already holds on each; six of them together could block six times as many). Reviews:
    the budget goes where it buys the most recall (``most_recall_within``): the everyday and the
    hard-negative rows (``hard``) each within their own rate, harmful rows counted with
    ``weight`` (the training weights: a chat row counts as much as it did in training). Returns
    thresholds, per-category notes and the traffic-level cost (clean rows blocked / flagged by
    any category, out of fold).
    """
    budget = budget or Budget()
    Y = np.asarray(Y)
    clean = clean_rows(Y)
    hard = clean & (np.zeros(len(Y), dtype=bool) if hard is None else np.asarray(hard, bool))
    everyday = clean & ~hard
    harmless = ~clean & ~(Y == 1).any(axis=1)
    filled = np.nan_to_num(scores, nan=-1.0)  # an unknown category never flags

    def choose(block_rate: float) -> tuple[dict[str, Thresholds], dict[str, Any]]:
        b = replace(budget, block_clean_rate=block_rate)
        chosen, notes = {}, {}
        for j, label in enumerate(labels):
            chosen[label], notes[label] = budget_thresholds(
                Y[:, j], scores[:, j], clean, b, hard, harmless
            )
        return chosen, notes

    def flagged_by_any(cuts: Sequence[float | None]) -> np.ndarray:
        flagged = np.zeros(len(Y), dtype=bool)
        for j, cut in enumerate(cuts):
            if cut is not None:
                flagged |= filled[:, j] >= cut
        return flagged

    def rate(flagged: np.ndarray, rows: np.ndarray) -> float:
        return float(flagged[rows].mean()) if rows.any() else 0.0

    low, high = budget.block_clean_rate / max(len(labels), 1), budget.block_clean_rate
    for _ in range(12):
        mid = (low + high) / 2
        blocked = flagged_by_any([t.block for t in choose(mid)[0].values()])
        worst = max(rate(blocked, rows) for rows in (clean, hard, harmless))
        if worst <= budget.block_clean_rate:
            low = mid
        else:
            high = mid
    block_rate = low
    chosen, notes = choose(block_rate)
    blocks = [chosen[label].block for label in labels]
    reviews = most_recall_within(
        Y, filled, blocks, everyday, hard, budget, weight=weight, public=harmless
    )
    for j, label in enumerate(labels):
        if chosen[label].review is None:  # nothing to choose on (see its note)
            continue
        chosen[label], notes[label] = budget_thresholds(
            Y[:, j],
            scores[:, j],
            clean,
            replace(budget, block_clean_rate=block_rate),
            hard,
            harmless,
            review=reviews[j],
        )
    blocked = flagged_by_any(blocks)
    flagged = flagged_by_any([chosen[label].review for label in labels])
    cost = {
        "clean_rows": int(clean.sum()),
        "hard_negative_rows": int(hard.sum()),
        "clean_blocked": rate(blocked, clean),
        "hard_negatives_blocked": rate(blocked, hard),
        "clean_flagged": rate(flagged, clean),
        "everyday_flagged": rate(flagged, everyday),
        "hard_negatives_flagged": rate(flagged, hard),
        "public_rows": int(harmless.sum()),
        "public_flagged": rate(flagged, harmless),
        "public_blocked": rate(blocked, harmless),
        "per_category_block_rate": block_rate,
    }
    return chosen, notes, cost


def most_recall_within(
    Y: np.ndarray,
    scores: np.ndarray,
    blocks: Sequence[float | None],
    everyday: np.ndarray,
    hard: np.ndarray,
    budget: Budget,
    weight: np.ndarray | None = None,
    lookahead: int = 40,
    public: np.ndarray | None = None,
) -> list[float]:
    """Review cuts, one per category, that flag as much harmful weight as the review budgets allow.

    Categories differ in what a clean row flagged buys: lowering a gambling cut past one
    everyday row may flag forty harmful rows where fraud's flags two. Starting from the block
    cuts, each step lowers the one cut whose next stop flags the most not-yet-flagged harmful
    weight per share of budget spent (an everyday row costs 1 / the everyday rows allowed, a hard
    negative 1 / the hard negatives allowed); stops sit just above a clean row, so a step spends
    whole rows. ``public`` rows (partly labelled, positive nowhere) are a third budget,
    ``review_public_rate``, counted only where a category knows them (unknown scores are -1). It
    ends when no step fits in every budget above ``min_review``. Greedy, not exact, but it cannot
    do worse than leaving the budget unspent, and every cut stays at or below its block.
    """
    harmful = (Y == 1).any(axis=1)
    public = np.zeros(len(Y), dtype=bool) if public is None else np.asarray(public, bool)
    public = public & ~harmful & ~everyday & ~hard
    rows = harmful | everyday | hard | public
    S, harmful, everyday, hard = scores[rows], harmful[rows], everyday[rows], hard[rows]
    public = public[rows]
    clean = everyday | hard
    gain_of = (np.ones(len(Y)) if weight is None else np.asarray(weight, float))[rows]
    gain_of = np.where(harmful, gain_of, 0.0)
    allowed_everyday = int(np.floor(budget.review_clean_rate * everyday.sum()))
    allowed_hard = int(np.floor(budget.review_hard_negative_rate * hard.sum()))
    allowed_public = int(np.floor(budget.review_public_rate * public.sum()))
    cuts = [
        float(b) if b is not None else float(np.nextafter(S[:, j].max(initial=0.0), np.inf))
        for j, b in enumerate(blocks)
    ]
    flagged = (np.asarray(cuts) <= S).any(axis=1)
    while True:
        used_everyday, used_hard = int(flagged[everyday].sum()), int(flagged[hard].sum())
        used_public = int(flagged[public].sum())
        best: tuple[float, int, float] | None = None
        for j, cut in enumerate(cuts):
            column = S[:, j]
            below = ~flagged & (column >= 0) & (column < cut)  # -1: category unknown
            next_clean = np.unique(column[below & clean])[::-1][:lookahead]
            stops = [float(np.nextafter(c, np.inf)) for c in next_clean]
            stops.append(float(column[below].min(initial=cut)))
            stops.append(budget.min_review)  # as low as a review may go, if the budgets allow
            # the lowest stop the public budget allows: just above its (room + 1)-th public row
            room = allowed_public - used_public
            public_below = np.sort(column[below & public])[::-1]
            if 0 <= room < len(public_below):
                stops.append(float(np.nextafter(public_below[room], np.inf)))
            for stop in sorted(set(stops), reverse=True):
                if stop < budget.min_review:
                    break
                newly = below & (column >= stop)
                spent_everyday = used_everyday + int(newly[everyday].sum())
                spent_hard = used_hard + int(newly[hard].sum())
                spent_public = used_public + int(newly[public].sum())
                if (
                    spent_everyday > allowed_everyday
                    or spent_hard > allowed_hard
                    or spent_public > max(allowed_public, used_public)
                ):
                    break
                gain = float(gain_of[newly].sum())
                cost = (
                    (spent_everyday - used_everyday) / max(allowed_everyday, 1)
                    + (spent_hard - used_hard) / max(allowed_hard, 1)
                    + (spent_public - used_public) / max(allowed_public, 1)
                )
                value = gain / (cost + 1e-6)
                if gain > 0 and (best is None or value > best[0]):
                    best = (value, j, stop)
        if best is None:
            return cuts
        _, j, stop = best
        flagged |= S[:, j] >= stop
        cuts[j] = stop
