"""Policy: threshold boundaries, source strictness, overrides files and the policy version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.errors import PolicyError
from models.normalize import normalize
from models.policy import (
    QUOTING_REASON,
    THIN_REASON,
    Policy,
    Thresholds,
    Verdict,
    review_quoting_blocks,
    review_thin_blocks,
)

LABELS = ("spam", "fraud", "hate")
BASE = {
    "spam": Thresholds(review=0.5, block=0.9),
    "fraud": Thresholds(review=0.4, block=0.8),
    "hate": Thresholds(review=0.3, block=None),
}


def _policy(overrides: object | None = None) -> Policy:
    if overrides is None:
        return Policy(LABELS, BASE)
    return Policy.from_overrides(LABELS, BASE, overrides)


@pytest.mark.parametrize(
    ("spam", "expected"),
    [
        (0.0, "allow"),
        (np.nextafter(0.5, 0), "allow"),
        (0.5, "review"),
        (np.nextafter(0.9, 0), "review"),
        (0.9, "block"),
        (1.0, "block"),
    ],
)
def test_boundaries_are_inclusive(spam: float, expected: str) -> None:
    (verdict,) = _policy().decide_batch(np.array([[spam, 0.0, 0.0]]))
    assert verdict.action == expected
    assert verdict.triggered == (() if expected == "allow" else ("spam",))


def test_a_category_without_block_threshold_never_blocks() -> None:
    verdict = _policy().decide([0.0, 0.0, 1.0])
    assert verdict.action == "review"
    assert verdict.triggered == ("hate",)
    assert verdict.reasons == ("hate 1.000 >= review 0.300",)


def test_the_most_severe_action_wins_and_names_its_categories() -> None:
    verdict = _policy().decide([0.95, 0.85, 0.99])
    assert verdict.action == "block"
    assert verdict.triggered == ("spam", "fraud")


def test_sources_are_stricter() -> None:
    policy = _policy({"sources": {"post:ad": {"scale": 0.8}}})
    scores = np.array([[0.75, 0.0, 0.0]] * 3)
    actions = [v.action for v in policy.decide_batch(scores, ["post:ad", "chat", None])]
    assert actions == ["block", "review", "review"]  # 0.75 >= 0.9 * 0.8
    effective = policy.thresholds_for("post:ad")["spam"]
    assert (effective.review, effective.block) == (pytest.approx(0.4), pytest.approx(0.72))


def test_overrides_replace_thresholds_globally_and_per_source() -> None:
    policy = _policy(
        {
            "thresholds": {"fraud": {"block": 0.6}, "hate": {"block": 0.95}},
            "sources": {"account:public": {"thresholds": {"hate": {"block": 0.7}}}},
        }
    )
    assert policy.thresholds["fraud"] == Thresholds(0.4, 0.6)
    assert policy.decide([0.0, 0.65, 0.0]).action == "block"
    assert policy.decide([0.0, 0.0, 0.75]).action == "review"
    assert policy.decide([0.0, 0.0, 0.75], "account:public").action == "block"


def test_version_names_the_effective_policy() -> None:
    assert _policy().version == _policy().version
    assert _policy({"thresholds": {"fraud": {"block": 0.6}}}).version != _policy().version
    assert _policy({"sources": {"post:ad": {"scale": 0.8}}}).version != _policy().version


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"thresholds": {"rumour": {"block": 0.5}}}, "rumour"),
        ({"thresholds": {"spam": {"block": 1.5}}}, "outside"),
        ({"thresholds": {"spam": {"blok": 0.5}}}, "blok"),
        ({"sources": {"post:ad": {"scale": 1.2}}}, "scale"),
        ({"sources": {"post:ad": {"scale": "strict"}}}, "not a number"),
        ({"threshold": {}}, "threshold"),
        ([], "JSON object"),
    ],
)
def test_malformed_overrides_are_refused(overrides: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _policy(overrides)


def test_overrides_file_errors_name_the_file(tmp_path: Path) -> None:
    class Loaded:
        labels = LABELS
        thresholds = BASE

    path = tmp_path / "policy.json"
    path.write_text("{not json")
    with pytest.raises(PolicyError, match=r"policy\.json"):
        Policy.from_model(Loaded(), path)  # type: ignore[arg-type]  # a stand-in: labels, thresholds
    path.write_text(json.dumps({"sources": {"post:ad": {"scale": 0.5}}}))
    loaded = Loaded()  # a stand-in with only what the policy reads: labels and thresholds
    assert Policy.from_model(loaded, path).sources["post:ad"].scale == 0.5  # type: ignore[arg-type]  # stand-in
    with pytest.raises(PolicyError, match="does not exist"):
        Policy.from_model(Loaded(), tmp_path / "missing.json")  # type: ignore[arg-type]  # stand-in


def test_score_matrix_shape_is_checked() -> None:
    with pytest.raises(PolicyError, match="shape"):
        _policy().decide_batch(np.zeros((2, 2)))
    with pytest.raises(PolicyError, match="sources"):
        _policy().decide_batch(np.zeros((2, 3)), ["chat"])
    assert _policy().decide_batch(np.zeros((0, 3))) == []


def test_a_model_block_on_too_little_text_is_a_review() -> None:
    block = Verdict("block", ("fraud",), ("fraud 0.970 >= block 0.915",))
    texts = ["23333333", "vip", "138 1234 5678", "verify now at http://secure-bank.top"]
    verdicts = review_thin_blocks([block] * 4, texts)
    assert [v.action for v in verdicts] == ["review", "review", "review", "block"]
    assert verdicts[0].reasons == (*block.reasons, THIN_REASON)
    assert verdicts[0].triggered == ("fraud",)
    assert verdicts[3] == block
    # the normalized texts scoring computed give the same verdicts; only those are measured
    normalized = [normalize(text) for text in texts]
    assert review_thin_blocks([block] * 4, texts, normalized) == verdicts
    assert review_thin_blocks([block] * 2, ["vip", "vip"], ["free money now", None]) == [
        block,
        verdicts[1],
    ]


def test_only_blocks_are_held_back() -> None:
    review, allow = Verdict("review", ("spam",), ("spam",)), Verdict("allow", (), ())
    assert review_thin_blocks([review, allow], ["ok", "ok"]) == [review, allow]
    with pytest.raises(PolicyError, match="texts"):
        review_thin_blocks([review], [])


def test_a_model_block_on_a_message_that_quotes_another_is_a_review() -> None:
    block = Verdict("block", ("fraud",), ("fraud 0.990 >= block 0.951",))
    quoting = [
        "Mum forwarded me 'Congratulations! You have won $1,000,000 in the WhatsApp lottery, "
        "send your bank details to claim' 😂 Mum NO. delete and block pls",
        # an apostrophe inside a single-quoted message does not end the quote
        "lol I got this today: 'Congratulations! You've been selected for a remote job earning "
        "$300/day. Reply YES to start' — nice try",
        "收到一条短信：“您的账户涉嫌违规，即将被公安机关冻结，请配合转账到监管账户”，这是诈骗吧？",
        "he keeps posting 「你们这些外地人都滚回去，别来我们这里抢饭碗」 in the group, report him",
    ]
    not_quoting = [
        # a quoted word or phrase, not a message
        'Loan approved! To release funds bank in RM800 "insurance deposit" to the account below',
        # a message wrapped whole in quotes: nothing of the sender's own
        '"Congratulations! You have won a prize, call now to claim it today"',
        # no quote marks: an apostrophe is not a quote
        "you've won, it's true, send your bank details to claim the prize today",
        "Is this link legit? https://hdfcbank-kyc-update.xyz/login seems dodgy to me",
    ]
    texts = quoting + not_quoting
    verdicts = review_quoting_blocks([block] * len(texts), texts)
    assert [v.action for v in verdicts] == ["review"] * 4 + ["block"] * 4
    assert verdicts[0].reasons == (*block.reasons, QUOTING_REASON)
    assert verdicts[0].triggered == ("fraud",)
    # decide_messages applies it: what the stream, classify and the benchmarks use
    policy = Policy(["fraud"], {"fraud": Thresholds(0.5, 0.9)})
    decided = policy.decide_messages(np.full((2, 1), 0.99), [quoting[0], not_quoting[0]])
    assert [v.action for v in decided] == ["review", "block"]


def test_a_quoting_message_is_only_held_back_from_a_block() -> None:
    review, allow = Verdict("review", ("spam",), ("spam",)), Verdict("allow", (), ())
    text = "my boss said 'the quarterly numbers are due on friday, no excuses this time' ugh"
    assert review_quoting_blocks([review, allow], [text, text]) == [review, allow]
    with pytest.raises(PolicyError, match="texts"):
        review_quoting_blocks([review], [])
