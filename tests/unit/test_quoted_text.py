"""Quoted text read apart: a complaint, a warning or an "is this real?" question quotes the abuse
it is about, and with ``quoted_apart`` the quoted words are features of their own, learned from
quoted training text, unless the quote is the whole message or holds a way to reach someone."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.classifier import ModerationClassifier
from models.features import TextFeatures, split_quotes
from tests.unit.test_hostile_input import LENGTH, _assert_linear, _plain
from tests.unit.toy_corpus import LABELS, toy_data


@pytest.mark.parametrize(
    ("text", "outside", "quoted"),
    [
        ("有人私信骂我“nmsl”就因为我说他打得菜", "有人私信骂我“”就因为我说他打得菜", "nmsl"),
        (
            "被人在群里说「河南人都是骗子」，我就是河南人，真的很生气",
            "被人在群里说「」，我就是河南人，真的很生气",
            "河南人都是骗子",
        ),
        (
            "is it legit? i got 'you won a prize, pay $2 shipping' from a stranger",
            "is it legit? i got '' from a stranger",
            "you won a prize, pay $2 shipping",
        ),
        (
            'he called me "loser" and "idiot" in class today',
            'he called me "" and "" in class today',
            "loser\nidiot",
        ),
    ],
)
def test_a_quote_inside_a_message_of_its_own_is_read_apart(
    text: str, outside: str, quoted: str
) -> None:
    assert split_quotes(text) == (outside, quoted)


@pytest.mark.parametrize(
    "text",
    [
        "no quotes at all, don't worry it's fine",  # apostrophes open nothing
        "“加我领红包，今天最后一天”",  # the whole message quoted: no frame
        'look: "free iphone for the first 100 people who share this post today"',  # frame too short
        "someone sent me 'your parcel is held, pay the fee at royal-mail.top' is it real",  # a host
        "有人发我“加微信 abc123 领红包”是真的吗，我有点怀疑，大家帮我看看",  # a messenger handle
        'my friend got "call 0755 2901 1876 to claim" in a text, weird right',  # a phone number
    ],
)
def test_a_message_is_read_whole_when_the_quote_is_the_message_or_holds_contact_bait(
    text: str,
) -> None:
    assert split_quotes(text) == (text, "")


def _fitted(quoted_apart: bool) -> TextFeatures:
    training = [
        "he said 'you idiot' to me",
        "you idiot",
        "she said 'you idiot' to him",
        "you idiot loser",
        "what a day",
        "what a lovely day",
    ]
    return TextFeatures(min_df=2, quoted_apart=quoted_apart).fit(training)


def _words(features: TextFeatures, text: str) -> set[int]:
    return set(features.transform_blocks([text])[0].nonzero()[1].tolist())


def test_quoted_words_are_columns_of_their_own() -> None:
    apart, whole = _fitted(True), _fitted(False)
    # "you" and "idiot" quoted (two training texts) and said (two more): four word columns
    assert len(apart.word_vocabulary_) == len(whole.word_vocabulary_) + 2
    quoted, own = "he said 'you idiot' to me", "you idiot"
    assert _words(apart, quoted).isdisjoint(_words(apart, own))
    assert _words(whole, own) <= _words(whole, quoted)  # read whole, the words are shared


def test_a_model_saved_before_quotes_were_read_apart_scores_the_same() -> None:
    texts, Y = toy_data(120)
    model = ModerationClassifier().fit(texts, Y, LABELS)
    expected = model.score(["he said 'free prize' lol ok then", *texts[:10]])
    del model.__dict__["quoted_apart"]
    del model.features_.__dict__["quoted_apart"]
    restored = pickle.loads(pickle.dumps(model))
    assert restored.quoted_apart is False and restored.features_.quoted_apart is False
    np.testing.assert_array_equal(
        restored.score(["he said 'free prize' lol ok then", *texts[:10]]), expected
    )


QUOTE_RUNS = ('"', "'", "“", "”", "「", "‘", '"a', "'a ", "“a”", "a '", "「a」x")


def test_splitting_hostile_runs_of_quote_marks_costs_a_constant_factor_of_plain_text() -> None:
    cases = {}
    for run in QUOTE_RUNS:
        body = run * ((LENGTH - 20) // len(run))
        cases[f"{run!r}-alone"] = body
        cases[f"{run!r}-framed"] = "someone said " + body + " ok"
    # plain text without a quote mark skips the search; the bound is a quoted plain text's cost
    quoted_plain = "someone said “" + _plain()[: LENGTH - 20] + "” ok"
    features = _fitted(True)
    _assert_linear(split_quotes, cases, quoted_plain)
    _assert_linear(lambda text: features.transform([text]), cases, quoted_plain)
