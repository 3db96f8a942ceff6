"""The public dataset loaders on the real data: counts from each PROVENANCE.md, mappings, masks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from training import public_datasets as pdata
from training.errors import LabelledDataError
from training.labelled_data import label_matrix
from training.public_datasets import DatasetNotFound, PublicDataset

ROOT = pdata.DEFAULT_ROOT
needs_data = pytest.mark.skipif(not ROOT.is_dir(), reason=f"public datasets absent ({ROOT})")


def _load(name: str) -> PublicDataset:
    if not (ROOT / name / "data.jsonl").is_file():
        pytest.skip(f"{name} absent under {ROOT}")
    return pdata.load(name)


def _counts(data: PublicDataset) -> Counter[tuple[str | None, str]]:
    return Counter((r.split, r.source_label) for r in data.rows)


def test_missing_folder_raises_dataset_not_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="sms_spam_collection_v1"):
        pdata.load_sms_spam_collection(tmp_path)
    with pytest.raises(DatasetNotFound, match="no loader"):
        pdata.load("no_such_set", tmp_path)
    assert issubclass(DatasetNotFound, LabelledDataError)


def test_unknown_label_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "tg_spam_zh"
    folder.mkdir()
    (folder / "data.jsonl").write_text('{"text": "x", "label": "maybe"}\n', encoding="utf-8")
    with pytest.raises(pdata.MalformedDataset, match="maybe"):
        pdata.load_tg_spam(tmp_path)


def test_label_matrix_marks_silent_categories_unknown() -> None:
    rows = [
        pdata.PublicRow("a", {"spam": 1}, "spam"),
        pdata.PublicRow("b", {"spam": 0, "fraud": 0}, "ham"),
    ]
    Y = pdata.label_matrix(rows, ("spam", "fraud", "hate"))
    assert Y.dtype == np.int8
    assert Y.tolist() == [[1, -1, -1], [0, 0, -1]]
    # the same masks once converted to the training package's row type
    data = PublicDataset("x", tuple(rows), ("spam", "fraud"))
    assert label_matrix(data.labelled_rows(), ("spam", "fraud", "hate")).tolist() == Y.tolist()


def test_desegment_joins_chinese_words_only() -> None:
    segmented = "贷款 成功 送 DIGIT 元 点击 URL abc def"
    assert pdata.desegment(segmented) == "贷款成功送DIGIT元点击URL abc def"


@needs_data
def test_sms_paper_split() -> None:
    data = _load("sms_spam_collection_v1")
    train, test = data.where("train"), data.where("test")
    assert (len(data), len(train), len(test)) == (5574, 1674, 3900)
    assert Counter(test.source_labels) == {"ham": 3391, "spam": 509}
    Y = test.label_matrix(("spam", "fraud", "hate"))
    spam = np.array(test.source_labels) == "spam"
    assert (Y[spam, 0] == 1).all() and (Y[~spam, 0] == 0).all()
    # no fraud positives in the set, so its ham says nothing about fraud either
    assert (Y[:, 1] == -1).all()
    assert (Y[:, 2] == -1).all()  # a spam corpus says nothing about hate


@needs_data
def test_davidson_counts_and_offensive_choice() -> None:
    data = _load("davidson_hate_offensive")
    assert Counter(data.source_labels) == {
        "hate_speech": 1430,
        "offensive_language": 19190,
        "neither": 4163,
    }
    Y = data.label_matrix()
    assert int((Y == 1).sum()) == 1430 and int((Y == 0).sum()) == 19190 + 4163
    masked = pdata.load_davidson(offensive_as="unknown").label_matrix()
    assert int((masked == -1).sum()) == 19190


@needs_data
def test_cold_train_dev() -> None:
    data = _load("cold_chinese_offensive")
    assert _counts(data) == {
        ("train", "safe"): 13003,
        ("train", "offensive"): 12723,
        ("dev", "safe"): 3220,
        ("dev", "offensive"): 3211,
    }
    assert set(map(tuple, data.label_matrix().tolist())) == {(0,), (1,)}


@needs_data
def test_tg_spam_train_only_without_empty_lines() -> None:
    data = _load("tg_spam_zh")
    # 18,048 lines in this copy (ham 9,066 / spam 8,982) minus 8 empty texts
    assert _counts(data) == {("train", "ham"): 9061, ("train", "spam"): 8979}
    assert all(r.text.strip() for r in data.rows)


@needs_data
def test_fbs_categories_map_onto_the_taxonomy() -> None:
    data = _load("fbs_sms_zh")
    assert len(data) == 14074
    by_label = {r.source_label: dict(r.labels) for r in data.rows}
    assert by_label["IL:Gambling"] == {"fraud": 0, "gambling": 1, "sexual": 0}
    assert by_label["IL:Escort_service"] == {"fraud": 0, "gambling": 0, "sexual": 1}
    assert by_label["FR:Phishing(Bank)"] == {"fraud": 1, "gambling": 0, "sexual": 0}
    assert by_label["AD:Retail"]["spam"] == 1
    Y = data.label_matrix(("spam", "fraud", "gambling", "sexual"))
    assert Counter(Y[:, 1].tolist())[1] == 3069
    assert Counter(Y[:, 2].tolist())[1] == 1681
    assert Counter(Y[:, 3].tolist())[1] == 111
    assert Counter(Y[:, 0].tolist()) == {1: 8327 + 495, -1: 14074 - 8327 - 495}


@needs_data
def test_mudou_telecom_mendeley_counts() -> None:
    mudou = _load("mudou_spam_zh")
    assert _counts(mudou) == {
        ("train", "spam"): 6899,
        ("train", "ham"): 3933,
        ("test", "spam"): 888,
        ("test", "ham"): 491,
    }
    telecom = _load("telecom_fraud_texts_5_zh")
    Y = telecom.label_matrix()
    assert len(telecom) == 11773 and int(Y.sum()) == 4000
    smishing = _load("mendeley_smishing_5971")
    assert Counter(smishing.source_labels) == {"ham": 4844, "smishing": 638, "spam": 489}
    Y = smishing.label_matrix(("spam", "fraud"))
    assert Counter(map(tuple, Y.tolist())) == {(0, 0): 4844, (-1, 1): 638, (1, -1): 489}


@needs_data
def test_other_english_and_rumour_sets() -> None:
    storm = _load("stormfront_hate_speech")
    Y = storm.label_matrix()
    assert len(storm) == 10466 and int((Y == -1).sum()) == 168 + 73
    assert Counter(r.split for r in storm.rows if r.labels.get("hate") == 1) == {"train": 957}
    olid = _load("olid_offenseval2019")
    # OFF targeting a group is the hate positive; other OFF stays unknown
    assert Counter(olid.source_labels) == {"NOT": 8840, "OFF": 4400 - 1074, "OFF/GRP": 1074}
    assert Counter(olid.label_matrix()[:, 0].tolist()) == {0: 8840, -1: 4400 - 1074, 1: 1074}
    rumor = _load("weibo_rumor_ced_zh")
    assert rumor.categories == ("rumor",)
    assert Counter(rumor.label_matrix()[:, 0].tolist()) == {1: 1538, 0: 1849}
