"""The catalogue of public labelled sets: where each comes from, its pinned checksum, licence,
citation, parser (``training.public_datasets``), held-out split, and the local cache.

A set is used from the cache, ``~/.cache/chatguard/datasets/NAME/data.jsonl`` (the same layout
as a local mirror such as ``../shared/datasets``), and only if its sha256 is the pinned one:
``import_set`` copies it in from a mirror, ``fetch_set`` downloads it from the canonical source
on a machine with internet. A file whose checksum differs is refused, never read, so a model's
metadata names exactly the data it learned from. Nothing of a set is ever stored in the project.

``commercial`` is True only where the licence allows commercial use without doubt; a platform
that may only train on such data passes ``commercial_only``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training import public_datasets as pdata
from training.errors import TrainingError

DATA_FILE = "data.jsonl"


class CatalogueError(TrainingError):
    """A set is not in the catalogue, cannot be fetched, or fails its checksum."""


@dataclass(frozen=True)
class CatalogueEntry:
    """One public labelled set and everything needed to use it responsibly."""

    name: str
    source: str  # canonical source (repository at a pinned commit, or home page)
    sha256: str  # of the normalised ``data.jsonl`` (``{"text", "label", ...}`` per line)
    licence: str
    commercial: bool
    citation: str
    language: str
    mapping: str  # how its labels map onto the taxonomy (the loader's docstring has why)
    test_split: str  # which rows are held out in benchmarks and kept out of the default recipe
    in_default_recipe: bool = True
    download_url: str | None = None  # a ready ``data.jsonl`` at a pinned URL, if published

    def loader(self) -> Callable[[Path | None], pdata.PublicDataset]:
        return pdata.LOADERS[self.name]


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        "sms_spam_collection_v1",
        "http://www.dt.fee.unicamp.br/~tiago/smsspamcollection/ (copy: github.com/PARKER-X/"
        "SpamClassifier@5fa41eaf3ec0d21d3ffced673800d25b6b8ffc20)",
        "2de49196135bb945781f4ae9dd92d4b02f4d00bc72f99556f20a485ddec6c2d0",
        "free, no limitations; copyright Almeida & Gómez Hidalgo; cite",
        True,
        "Almeida, Gómez Hidalgo, Yamakami. Contributions to the Study of SMS Spam Filtering: "
        "New Collection and Results. DocEng 2011.",
        "en",
        "spam → spam=1; ham → spam=0 (nothing else is decided)",
        "paper split: last 3,900 lines",
    ),
    CatalogueEntry(
        "mendeley_smishing_5971",
        "Mendeley Data, Mishra & Soni 2022 (copy: github.com/MarazMia/SMISH_DT@7e4b3ef1)",
        "8335041127894c0da59f19024fa2353703ca8ed4da74ae902735f43593ef83fa",
        "not stated in the copy (Mendeley usually CC BY 4.0, unverified)",
        False,
        "Mishra, Soni. SMS Phishing Dataset for Machine Learning and Pattern Recognition. "
        "Mendeley Data v1, 2022.",
        "en",
        "spam → spam=1; smishing → fraud=1; ham → spam=0, fraud=0",
        "20% of groups, seed 42 (overlaps the SMS Spam Collection)",
    ),
    CatalogueEntry(
        "mudou_spam_zh",
        "github.com/shaonianruntu/Spam-Message-Classification@cf1352b7",
        "61d51a0c8f0c0e619bb86708f7f6e54b76022c96fa198e93978b1e5bb9c5ec7b",
        "none stated (research only)",
        False,
        "unknown origin; mudou_spam.train / mudou_spam.test",
        "zh",
        "spam → spam=1; ham → spam=0",
        "published test file (1,379 rows)",
    ),
    CatalogueEntry(
        "tg_spam_zh",
        "github.com/MarkIvory2973/tg-spam@fdd4796d",
        "c9569ba8de4aee1895f106db32944d5b3b7f8b111702dca22a409cfd424ae174",
        "GPL-3.0 repository; data licence unverified (research only)",
        False,
        "MarkIvory2973/tg-spam (data from reatiny/chinese-spam-10000, "
        "paulkm/chinese_conversation_and_spam)",
        "zh",
        "spam → spam=1; ham → spam=0",
        "10% of groups, seed 42 (eval.csv is held back)",
    ),
    CatalogueEntry(
        "fbs_sms_zh",
        "github.com/Cypher-Z/FBS_SMS_Dataset@49173b12",
        "e5ac36e3ebbf6a333f7241992153859cdb60c48712b674f2e63e13556c491f48",
        "no licence file; cite (research use with attribution)",
        False,
        "Zhang et al. Lies in the Air: Characterizing Fake-base-station Spam Ecosystem in China. "
        "CCS 2020.",
        "zh",
        "AD:* → spam=1; FR:* → fraud=1; Gambling → gambling=1; Escort → sexual=1; "
        "exclusive scheme: the other bait categories 0",
        "20% of groups, seed 42",
    ),
    CatalogueEntry(
        "telecom_fraud_texts_5_zh",
        "github.com/ChangMianRen/Telecom_Fraud_Texts_5@9526a1ee",
        "1fd0af52ffd6494a76dbf45777ab45b9d40efa6e837aa24b7d56801908a32ab6",
        "GPL-3.0 file, README: research only, commercial use prohibited",
        False,
        "ChangMianRen/Telecom_Fraud_Texts_5",
        "zh",
        "fraud_* → fraud=1; normal → fraud=0",
        "20% of groups, seed 42",
    ),
    CatalogueEntry(
        "davidson_hate_offensive",
        "github.com/t-davidson/hate-speech-and-offensive-language@cb50f7e9",
        "10227d0008b4b08b67a6e3c580223b61e717a9beb33498ff2710deec28ba154d",
        "MIT",
        True,
        "Davidson, Warmsley, Macy, Weber. Automated Hate Speech Detection and the Problem of "
        "Offensive Language. ICWSM 2017.",
        "en",
        "hate_speech → hate=1; offensive_language, neither → hate=0",
        "train_test_split(test_size=0.1, random_state=42)",
    ),
    CatalogueEntry(
        "cold_chinese_offensive",
        "github.com/thu-coai/COLDataset@a0c55a94",
        "63431c37117e0e30b18a066e256b1273baec003049a66d2e729924a5f16a2b67",
        "Apache-2.0",
        True,
        "Deng et al. COLD: A Benchmark for Chinese Offensive Language Detection. EMNLP 2022.",
        "zh",
        "offensive → hate=1; safe → hate=0",
        "dev split (test is held back)",
    ),
    CatalogueEntry(
        "stormfront_hate_speech",
        "github.com/Vicomtech/hate-speech-dataset@b802137e",
        "8b1ee059f4bf4314ee35b4656a1ff9e8fd6b2c3f62e8b3240d315cc3db9d7df5",
        "CC BY-SA 3.0 ES",
        True,
        "de Gibert, Perez, García-Pablos, Cuadros. Hate Speech Dataset from a White Supremacy "
        "Forum. ALW2 2018.",
        "en",
        "hate → hate=1; noHate → hate=0; relation, idk/skip → unknown",
        "20% of groups, seed 42 (the sampled test is held back)",
    ),
    CatalogueEntry(
        "olid_offenseval2019",
        "github.com/wenliangdai/multi-task-offensive-language-detection@48c38816 (OLIDv1.0)",
        "ba55ea5f2227b48bc4406f454606db76196a12e546ad32f321f4673b0297d9dc",
        "none stated; cite",
        False,
        "Zampieri et al. Predicting the Type and Target of Offensive Posts in Social Media. "
        "NAACL 2019.",
        "en",
        "OFF targeting a group (TIN/GRP) → hate=1; NOT → hate=0; other OFF → unknown",
        "20% of groups, seed 42 (the official test is held back)",
    ),
    CatalogueEntry(
        "weibo_rumor_ced_zh",
        "github.com/thunlp/Chinese_Rumor_Dataset@c1178d8c",
        "ceff0ccfdfb507dbae5f48b9af69d226713fc7daab4aca8a515ab9908ef4de48",
        "none stated; cite",
        False,
        "Song, Tu, Yang, Liu, Sun. CED: Credible Early Detection of Social Media Rumors. 2018.",
        "zh",
        "rumor → rumor=1; non_rumor → rumor=0 (not in the default taxonomy)",
        "20% of groups, seed 42",
        in_default_recipe=False,
    ),
    CatalogueEntry(
        "spamhunter_sms",
        "github.com/opmusic/SpamHunter_dataset@ee548cc9",
        "e42d53d01bb7ee252863590070d373cde876ee9e8f11d16af9710cc3899b5086",
        "none stated",
        False,
        "SpamHunter, 2022.",
        "multi",
        "fraud → fraud=1; spam_ad → spam=1 (no ham)",
        "20% of groups, seed 42",
    ),
)

BY_NAME = {entry.name: entry for entry in CATALOGUE}


def entry(name: str) -> CatalogueEntry:
    """The catalogue entry called ``name``."""
    try:
        return BY_NAME[name]
    except KeyError as exc:
        msg = f"{name!r} is not in the catalogue; known: {', '.join(sorted(BY_NAME))}"
        raise CatalogueError(msg) from exc


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/chatguard/datasets``, by default ``~/.cache/chatguard/datasets``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chatguard" / "datasets"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(item: CatalogueEntry, path: Path) -> None:
    """Refuse a file whose sha256 is not the pinned one."""
    actual = sha256_of(path)
    if actual != item.sha256:
        msg = (
            f"{item.name}: {path} has sha256 {actual}, the catalogue pins {item.sha256}; "
            "refusing it (a different version or a damaged copy)"
        )
        raise CatalogueError(msg)


def cached(item: CatalogueEntry, cache: Path | None = None) -> Path | None:
    """The cached ``data.jsonl`` of a set if present and intact, else None."""
    path = (cache or default_cache()) / item.name / DATA_FILE
    if not path.is_file():
        return None
    verify(item, path)
    return path


def _install(item: CatalogueEntry, source: Path, cache: Path | None) -> Path:
    verify(item, source)
    folder = (cache or default_cache()) / item.name
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as tmp:
        shutil.copyfileobj(source.open("rb"), tmp)
    target = folder / DATA_FILE
    Path(tmp.name).replace(target)
    return target


def import_set(name: str, mirror: Path, cache: Path | None = None) -> Path:
    """Copy ``mirror/NAME/data.jsonl`` into the cache after checking its sha256."""
    item = entry(name)
    source = Path(mirror) / name / DATA_FILE
    if not source.is_file():
        msg = f"{name}: {source} does not exist (a mirror is laid out NAME/{DATA_FILE})"
        raise CatalogueError(msg)
    return _install(item, source, cache)


def fetch_set(name: str, cache: Path | None = None, timeout: float = 30.0) -> Path:
    """Download a set's ``data.jsonl`` from its pinned URL into the cache, checksum checked."""
    return fetch_entry(entry(name), cache, timeout)


def fetch_entry(item: CatalogueEntry, cache: Path | None = None, timeout: float = 30.0) -> Path:
    """``fetch_set`` for an entry (any URL ``urllib`` opens, ``file://`` included)."""
    name = item.name
    if item.download_url is None:
        msg = (
            f"{name}: no pinned download of the normalised data.jsonl is published "
            f"(source: {item.source}); get it there and run `chatguard datasets import DIR`"
        )
        raise CatalogueError(msg)
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / DATA_FILE
        try:
            with urllib.request.urlopen(item.download_url, timeout=timeout) as response:
                part.write_bytes(response.read())
        except (urllib.error.URLError, OSError) as exc:
            msg = f"{name}: cannot download {item.download_url}: {exc}"
            raise CatalogueError(msg) from exc
        return _install(item, part, cache)


def available(
    cache: Path | None = None,
    mirror: Path | None = None,
    *,
    commercial_only: bool = False,
    names: Sequence[str] | None = None,
) -> Iterator[tuple[CatalogueEntry, Path]]:
    """Each usable set and its folder: from the cache, imported from ``mirror`` when missing."""
    for item in CATALOGUE:
        if names is not None and item.name not in names:
            continue
        if commercial_only and not item.commercial:
            continue
        path = cached(item, cache)
        if path is None and mirror is not None and (mirror / item.name / DATA_FILE).is_file():
            path = import_set(item.name, mirror, cache)
        if path is not None:
            yield item, path.parent


def held_out(item: CatalogueEntry, data: pdata.PublicDataset) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(train, test)`` of a set: ``test`` is its held-out split (``test_split``),
    ``train`` every other row that is not a near-duplicate of a test row.

    The default recipe trains only on ``train`` rows, so the benchmark can score it on every
    set's test split.
    """
    from sklearn.model_selection import train_test_split

    from training.split import group_ids

    n = len(data)
    groups = group_ids(data.texts)
    if item.name in ("sms_spam_collection_v1", "mudou_spam_zh"):
        test = np.array([r.split == "test" for r in data.rows])
    elif item.name == "cold_chinese_offensive":
        test = np.array([r.split == "dev" for r in data.rows])
    elif item.name == "davidson_hate_offensive":
        _, chosen_rows = train_test_split(np.arange(n), test_size=0.1, random_state=42)
        test = np.zeros(n, dtype=bool)
        test[chosen_rows] = True
    else:
        fraction = 0.1 if item.name == "tg_spam_zh" else 0.2
        unique = np.unique(groups)
        chosen = np.random.default_rng(42).permutation(unique)[: round(len(unique) * fraction)]
        test = np.isin(groups, chosen)
    train = ~np.isin(groups, groups[test])
    return train, test
