"""The n-gram vocabulary: hashes seen in at least ``min_df`` training texts become the columns."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.classifier import ModerationClassifier
from models.features import HashVocabulary, TextFeatures, char_ngram_hashes
from tests.unit.toy_corpus import LABELS, toy_data

TRAINING = [
    "free prize now",
    "free prize today",
    "see you at lunch",
    "lunch at noon lunch lunch",
    "滚出去 垃圾",
    "垃圾 广告",
]


def _word_block(features: TextFeatures, texts: list[str]) -> np.ndarray:
    return features.transform_blocks(texts)[0].toarray()


def test_an_ngram_counts_once_per_text_towards_min_df() -> None:
    rows = np.array([0, 0, 0, 1, 1, 2])
    hashes = np.array([7, 7, 7, 7, 9, 11], dtype=np.uint64)
    assert HashVocabulary.fit(rows, hashes, 3, min_df=2).hashes.tolist() == [7]
    assert HashVocabulary.fit(rows, hashes, 3, min_df=1).hashes.tolist() == [7, 9, 11]
    # "lunch" three times in one text and once in another: two texts. The Chinese lines are one
    # word each once normalized (spaces between Chinese characters go), each in one text.
    vocabulary = TextFeatures(min_df=2).fit(TRAINING)
    assert len(vocabulary.word_vocabulary_) == len({"free", "prize", "at", "lunch"})


def test_words_seen_in_one_training_text_are_not_features() -> None:
    features = TextFeatures(min_df=2).fit(TRAINING)
    assert not _word_block(features, ["today noon 广告"]).any()
    assert _word_block(features, ["free lunch"]).any()


def test_unknown_ngrams_do_not_dilute_a_text() -> None:
    """With hashing, every unseen n-gram takes a share of the text's unit norm; with the
    vocabulary a known word weighs the same whatever unknown words surround it."""
    features = TextFeatures(min_df=2).fit(TRAINING)
    plain = _word_block(features, ["free prize"])
    padded = _word_block(features, ["free prize zzq xxv qqz vvx"])
    np.testing.assert_allclose(padded, plain)
    hashed = TextFeatures(min_df=None).fit(TRAINING)
    assert not np.allclose(
        _word_block(hashed, ["free prize zzq xxv"]), _word_block(hashed, ["free prize"])
    )


def test_the_vocabulary_is_the_columns_of_the_blocks() -> None:
    features = TextFeatures(min_df=2).fit(TRAINING)
    widths = features.block_widths()
    assert widths == (len(features.word_vocabulary_), len(features.char_vocabulary_))
    blocks = features.transform_blocks(["free prize now", "", "垃圾"])
    assert tuple(b.shape[1] for b in blocks) == widths


def test_char_hashes_of_a_text_do_not_depend_on_its_batch() -> None:
    alone = char_ngram_hashes(["free prize"], (1, 4))[1]
    rows, batch = char_ngram_hashes(["垃圾 广告", "free prize", "x"], (1, 4))
    np.testing.assert_array_equal(np.sort(batch[rows == 1]), np.sort(alone))


def test_min_df_must_be_a_positive_count() -> None:
    with pytest.raises(ValueError, match="min_df"):
        TextFeatures(min_df=0).fit(TRAINING)


def test_a_model_saved_before_the_vocabulary_still_scores_the_same() -> None:
    texts, Y = toy_data(120)
    old = ModerationClassifier(min_df=None).fit(texts, Y, LABELS)
    state = pickle.dumps(old)
    # what a pickle from before the vocabulary holds: no min_df on either object
    del old.__dict__["min_df"]
    del old.features_.__dict__["min_df"]
    restored = pickle.loads(pickle.dumps(old))
    assert restored.min_df is None and restored.features_.min_df is None
    np.testing.assert_array_equal(restored.score(texts[:20]), pickle.loads(state).score(texts[:20]))
    assert restored.describe()["feature_params"]["min_df"] is None


def test_lookup_finds_every_known_hash_and_nothing_else() -> None:
    rng = np.random.default_rng(7)
    known = np.unique(rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64))
    # neighbours in the table: keys that share their low bits, so probing has to walk on
    crowded = (np.arange(40, dtype=np.uint64) << np.uint64(40)) | np.uint64(3)
    vocabulary = HashVocabulary(np.unique(np.concatenate([known, crowded])))
    unknown = rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64)
    unknown = unknown[~np.isin(unknown, vocabulary.hashes)]
    columns = vocabulary.columns(np.concatenate([vocabulary.hashes, unknown]))
    np.testing.assert_array_equal(columns[: len(vocabulary)], np.arange(len(vocabulary)))
    assert (columns[len(vocabulary) :] == -1).all()
    copy = pickle.loads(pickle.dumps(vocabulary))
    assert "_lookup" not in vars(copy)
    np.testing.assert_array_equal(copy.columns(vocabulary.hashes), np.arange(len(vocabulary)))
