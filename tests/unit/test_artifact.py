"""Artifacts: save → load gives identical scores; tampering and version mismatches are refused
before anything is unpickled."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from models.artifact import load_artifact, save_artifact
from models.classifier import ModerationClassifier
from models.errors import (
    ArtifactExists,
    ArtifactIntegrityError,
    ArtifactNotFound,
    IncompatibleModelError,
)
from models.features import DEFAULT_FEATURES, TextFeatures
from models.policy import Policy, Thresholds
from models.scorer import Scorer, VersionedScorer
from models.version_folder import METADATA_FILE, MODEL_FILE
from tests.unit.toy_corpus import LABELS, toy_data

PROBE = ["win a free prize now at 3", "今晚一起吃饭吗 8", "滚出去 垃圾 4", "hello"]


class _Marker:
    """Unpickling this creates a file: proof that a payload was (or was not) unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def fitted() -> ModerationClassifier:
    texts, Y = toy_data(200)
    return ModerationClassifier().fit(texts, Y, LABELS)


@pytest.fixture
def saved(tmp_path: Path, fitted: ModerationClassifier) -> Path:
    thresholds = {"spam": Thresholds(0.4, 0.9), "hate": Thresholds(0.3, None)}
    return save_artifact(
        tmp_path / "v1",
        fitted,
        thresholds=thresholds,
        metadata={**fitted.describe(), "data": {"rows": 200}},
    )


def _rewrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def test_save_then_load_scores_identically(saved: Path, fitted: ModerationClassifier) -> None:
    loaded = load_artifact(saved)
    assert loaded.version == "v1"
    assert loaded.labels == LABELS
    assert loaded.thresholds["hate"] == Thresholds(0.3, None)
    assert np.array_equal(loaded.score(PROBE), fitted.predict_proba(PROBE))
    meta = json.loads((saved / METADATA_FILE).read_text())
    assert meta["sha256"] == hashlib.sha256((saved / MODEL_FILE).read_bytes()).hexdigest()
    assert meta["data"] == {"rows": 200}
    for key in ("created_at", "feature_params", "libraries", "labels", "thresholds", "size_bytes"):
        assert key in meta


def test_tampered_model_is_refused_before_unpickling(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled.marker"
    payload = pickle.dumps(_Marker(str(marker)))
    _rewrite(saved / MODEL_FILE, payload)
    with pytest.raises(ArtifactIntegrityError, match="refusing to unpickle"):
        load_artifact(saved)
    assert not marker.exists()
    # the payload is live: unpickling it really would have created the marker
    pickle.loads(payload)
    assert marker.exists()


def test_scikit_learn_mismatch_is_refused_before_unpickling(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled.marker"
    payload = pickle.dumps(_Marker(str(marker)))
    _rewrite(saved / MODEL_FILE, payload)
    meta = json.loads((saved / METADATA_FILE).read_text())
    meta["sha256"] = hashlib.sha256(
        payload
    ).hexdigest()  # a consistent file: only the version differs
    meta["libraries"]["scikit-learn"] = "0.24.2"
    _rewrite(saved / METADATA_FILE, json.dumps(meta).encode())
    with pytest.raises(IncompatibleModelError, match=r"scikit-learn 0\.24\.2"):
        load_artifact(saved)
    assert not marker.exists()


def test_versions_are_never_overwritten(saved: Path, fitted: ModerationClassifier) -> None:
    before = (saved / MODEL_FILE).read_bytes()
    with pytest.raises(ArtifactExists):
        save_artifact(saved, fitted, thresholds={k: Thresholds(0.5, 0.9) for k in LABELS})
    assert (saved / MODEL_FILE).read_bytes() == before
    assert not os.access(saved / MODEL_FILE, os.W_OK) or os.geteuid() == 0


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound, match="not a model version folder"):
        load_artifact(tmp_path / "nope")


def test_failed_save_leaves_nothing_behind(tmp_path: Path, fitted: ModerationClassifier) -> None:
    def broken(_folder: Path) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_artifact(
            tmp_path / "v2",
            fitted,
            thresholds={k: Thresholds(0.5, 0.9) for k in LABELS},
            write_extra=broken,
        )
    assert list(tmp_path.iterdir()) == []


class KeywordScorer:
    """A scorer that is no ModerationClassifier: the artifact stores and loads any ``Scorer``."""

    def __init__(self, words: dict[str, str]) -> None:
        self.words = words  # word → category
        self.labels = tuple(dict.fromkeys(words.values()))

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.array(
            [
                [
                    float(any(w in t for w, c in self.words.items() if c == lab))
                    for lab in self.labels
                ]
                for t in texts
            ]
        )


def test_any_scorer_is_saved_loaded_and_served(tmp_path: Path) -> None:
    scorer = KeywordScorer({"prize": "spam", "垃圾": "hate"})
    assert isinstance(scorer, Scorer)
    folder = save_artifact(
        tmp_path / "v1",
        scorer,
        thresholds={k: Thresholds(0.5, 0.9) for k in ("spam", "hate")},
        metadata={"model_params": {"words": 2}},
    )
    loaded = load_artifact(folder)
    assert loaded.labels == ("spam", "hate")
    assert loaded.score(PROBE).tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert loaded.metadata["model_params"] == {"words": 2}


def _replace_model(folder: Path, payload: bytes) -> None:
    """Swap the pickle and record its sha256, as a writer of the registry could."""
    _rewrite(folder / MODEL_FILE, payload)
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta["sha256"] = hashlib.sha256(payload).hexdigest()
    _rewrite(folder / METADATA_FILE, json.dumps(meta).encode())


def test_a_pickle_that_is_no_scorer_is_refused(saved: Path) -> None:
    _replace_model(saved, pickle.dumps({"labels": LABELS}))
    with pytest.raises(IncompatibleModelError, match="not a fitted Scorer"):
        load_artifact(saved)
    _replace_model(saved, pickle.dumps(ModerationClassifier()))  # unfitted: no labels yet
    with pytest.raises(IncompatibleModelError, match="not a fitted Scorer"):
        load_artifact(saved)


def test_a_model_fitted_with_other_signals_is_refused_before_unpickling(
    saved: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled.marker"
    _replace_model(saved, pickle.dumps(_Marker(str(marker))))
    meta = json.loads((saved / METADATA_FILE).read_text())
    meta["signal_names"] = ["urls", "a_signal_the_normalizer_dropped"]
    _rewrite(saved / METADATA_FILE, json.dumps(meta).encode())
    with pytest.raises(IncompatibleModelError, match="retrain it"):
        load_artifact(saved)
    assert not marker.exists()


def test_a_model_trained_under_another_normalizer_loads_and_says_so(
    saved: Path, fitted: ModerationClassifier, caplog: pytest.LogCaptureFixture
) -> None:
    from streams import metrics
    from streams.model_holder import ModelHolder, ServingModel

    assert load_artifact(saved).normalizer_differs is False  # trained under this code's
    meta = json.loads((saved / METADATA_FILE).read_text())
    meta["normalizer"] = "0123456789abcdef"  # the fingerprint of an older normalizer
    _rewrite(saved / METADATA_FILE, json.dumps(meta).encode())
    loaded = load_artifact(saved)
    assert loaded.normalizer_differs is True
    assert np.array_equal(loaded.score(PROBE), fitted.predict_proba(PROBE))  # still serves
    holder, policy = ModelHolder.__new__(ModelHolder), Policy.from_model(loaded)
    with caplog.at_level("WARNING", logger="streams.model_holder"):
        holder.use(ServingModel(loaded, policy))
    assert metrics.MODEL_NORMALIZER_DIFFERS._value.get() == 1
    assert "retrain it" in caplog.text
    holder.use(ServingModel(fitted_version(fitted), policy))
    assert metrics.MODEL_NORMALIZER_DIFFERS._value.get() == 0


def fitted_version(model: ModerationClassifier) -> VersionedScorer:
    """``model`` as a served version that records no normalizer (a stand-in scorer)."""

    class Version:
        labels, version = model.labels, "v-stand-in"
        score = staticmethod(model.predict_proba)

    return Version()


def test_feature_defaults_have_one_source() -> None:
    model = ModerationClassifier()
    assert model.features() == DEFAULT_FEATURES
    assert TextFeatures().get_params() == asdict(DEFAULT_FEATURES)
    assert {k: v for k, v in model.get_params().items() if k in asdict(DEFAULT_FEATURES)} == (
        asdict(DEFAULT_FEATURES)
    )
