"""Loaders for the public labelled sets in ``../shared/datasets``, mapped onto chatguard's taxonomy.

Each folder there holds a ``data.jsonl`` (``{"text", "label", ...}``) and a ``PROVENANCE.md``
giving its source, split, published baseline and traps. A loader here reads one folder and maps
each source label onto the categories the source actually decides; every other category stays
unknown. That is the partly labelled row shape of ``docs/design.md``
(``{"text", "labels": {"spam": 1}}``): a spam corpus says nothing about hate, so a ham SMS must not
become a hate negative, and a hate corpus must not teach the spam model anything.

Mappings (why, per set):

A set's negative rows decide only the categories the set has positives for: a ham SMS in a
collection with no labelled fraud, gambling or sexual messages is evidence of nothing about them,
and marking it negative would teach a model that whatever such ham looks like can never be fraud.

- ``sms_spam_collection_v1`` (Almeida et al. 2011, English SMS): spam → spam=1; ham → spam=0.
  Whether a given spam is *also* fraud is not recorded, so it stays unknown. ``paper_split``
  (first 1,674 lines train, last 3,900 test) is kept as ``split``.
- ``mendeley_smishing_5971`` (English SMS): ham → spam=0, fraud=0; spam → spam=1; smishing →
  fraud=1 (spam unknown: whether a scam also counts as advertising spam is a policy question the
  source does not answer). Mostly overlaps the SMS Spam Collection: never train on one, test on
  the other.
- ``mudou_spam_zh`` (Chinese SMS): spam → spam=1, ham → spam=0; ``split`` train/test kept (the
  published split leaks: 560 test rows also occur in train).
- ``tg_spam_zh`` (Chinese chat spam): spam → spam=1, ham → spam=0. Only ``train`` is in this
  copy (``eval`` is held back); 8 empty lines are skipped.
- ``fbs_sms_zh`` (fake-base-station spam, one category per message, no ham): ``AD:*`` → spam=1;
  ``FR:*`` → fraud=1; ``IL:Gambling`` → gambling=1; ``IL:Escort_service`` → sexual=1;
  ``IL:Fake_ID_and_invoice`` → spam=1 (an advert for illegal goods). The scheme is exclusive, so
  a row is a negative for the three other bait categories (fraud, gambling, sexual) it was not
  filed under; spam stays unknown for fraud, gambling and escort rows for the reason given for
  smishing. ``IL:Political_propaganda`` and ``Other`` only give those negatives. The text is
  word-segmented and anonymised (``CELLPHONE``, ``URL``, ``DIGIT``): see ``desegment``.
- ``telecom_fraud_texts_5_zh``: the four fraud classes → fraud=1; normal → fraud=0 only, because
  "normal" includes carrier marketing SMS (not spam-negative). Fraud texts are partly
  model-generated reconstructions; research use only.
- ``davidson_hate_offensive`` (English tweets): hate_speech → hate=1; neither → hate=0;
  offensive_language → hate=0 by default. The coders chose between "hate speech" and "offensive
  but not hate speech" for exactly these tweets, so offensive is a real, and the hardest, negative
  for hate; dropping it would discard 77% of the set. The label is a majority vote and the paper
  notes hate tweets filed as offensive, so ``offensive_as="unknown"`` masks them instead.
- ``cold_chinese_offensive`` (COLD): offensive → hate=1, safe → hate=0. COLD's comments are all
  on race, gender and region, and in its fine-grained test labels 1,819 of 2,107 offensive
  comments attack a group (the rest attack an individual), so offensive is close to chatguard's
  hate; anti-bias comments are filed safe. ``split`` train/dev kept (test is held back).
- ``stormfront_hate_speech``: hate → hate=1, noHate → hate=0; relation (hateful only with the
  neighbouring sentences) and idk/skip → unknown. Not an extremism label: most sentences from
  the forum are ordinary. ``sampled_split`` is kept as ``split``.
- ``olid_offenseval2019``: NOT → hate=0 (not offensive cannot be hate); OFF whose sub-task B/C
  labels say it is a targeted insult of a group (TIN, GRP) → hate=1, the closest OLID comes to
  "attacks people for who they are"; other OFF (untargeted profanity, insults of one person or
  of an organisation) → unknown. ``split`` kept (train only here).
- ``weibo_rumor_ced_zh``: rumor → rumor=1, non_rumor → rumor=0 (the extra ``rumor`` category).
- ``spamhunter_sms``: fraud → fraud=1, spam_ad → spam=1 (no ham; recall only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from training.errors import LabelledDataError
from training.labelled_data import LabelledRow

# ``<repo>/training/public_datasets.py`` → ``<repo>/../shared/datasets``
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets"

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1

_BAIT = ("fraud", "gambling", "sexual")


class PublicDatasetError(LabelledDataError):
    """A public dataset folder cannot be read (under the training package's root error)."""


class DatasetNotFound(PublicDatasetError, FileNotFoundError):
    """A dataset folder or its ``data.jsonl`` is missing under the datasets root."""


class MalformedDataset(PublicDatasetError):
    """A ``data.jsonl`` line is not JSON, lacks text or label, or has a label with no mapping."""


@dataclass(frozen=True)
class PublicRow:
    """One message with the categories its source decides (absent = unknown)."""

    text: str
    labels: Mapping[str, int]
    source_label: str
    split: str | None = None

    def record(self) -> dict[str, object]:
        """The partly labelled JSONL shape of ``docs/design.md``."""
        return {"text": self.text, "labels": dict(self.labels)}

    def labelled(self, origin: str = "") -> LabelledRow:
        """The row as ``training.labelled_data`` reads it: partly labelled (``complete=False``)."""
        return LabelledRow(self.text, dict(self.labels), complete=False, origin=origin)


@dataclass(frozen=True)
class PublicDataset:
    """The rows of one dataset folder, in file order."""

    name: str
    rows: tuple[PublicRow, ...]
    categories: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.rows]

    @property
    def source_labels(self) -> list[str]:
        return [r.source_label for r in self.rows]

    def where(self, split: str) -> PublicDataset:
        """Only the rows of one published split (``train``, ``test``, ``dev`` ...)."""
        return self.subset(i for i, r in enumerate(self.rows) if r.split == split)

    def subset(self, indices: Iterable[int]) -> PublicDataset:
        """The rows at ``indices``, in that order."""
        rows = tuple(self.rows[i] for i in indices)
        return PublicDataset(self.name, rows, self.categories)

    def labelled_rows(self) -> list[LabelledRow]:
        """Every row as a partly labelled ``LabelledRow``, e.g. for ``training.train``."""
        return [r.labelled(self.name) for r in self.rows]

    def label_matrix(self, labels: Sequence[str] | None = None) -> np.ndarray:
        """``(n_rows, n_labels)`` int8 array of 1 / 0 / -1 (unknown), as the classifier takes."""
        names = tuple(labels) if labels is not None else self.categories
        return label_matrix(self.rows, names)


def label_matrix(rows: Sequence[PublicRow], labels: Sequence[str]) -> np.ndarray:
    """Rows → ``(n_rows, n_labels)`` of 1 / 0 / -1; a category a row does not decide is -1."""
    Y = np.full((len(rows), len(labels)), UNKNOWN, dtype=np.int8)
    for i, row in enumerate(rows):
        for j, name in enumerate(labels):
            value = row.labels.get(name)
            if value is not None:
                Y[i, j] = value
    return Y


def text_key(text: str) -> str:
    """Case- and whitespace-folded text: the duplicate test the PROVENANCE counts use."""
    return " ".join(text.casefold().split())


_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_SEGMENT_SPACE = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def desegment(text: str) -> str:
    """Remove the word-segmentation spaces next to Chinese characters (FBS, mudou's 3rd field).

    Production messages are not segmented; a model trained on segmented spam and raw ham would
    learn "spaces between Chinese words" as the spam signal.
    """
    return _SEGMENT_SPACE.sub("", text).strip()


def _read_jsonl(root: Path | None, folder: str) -> Iterator[dict[str, object]]:
    base = Path(root) if root is not None else DEFAULT_ROOT
    path = base / folder / "data.jsonl"
    if not path.is_file():
        msg = (
            f"public dataset {folder!r} not found: expected {path} "
            f"(datasets root {base}; pass root= to point elsewhere)"
        )
        raise DatasetNotFound(msg)
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{path}:{number}: not JSON ({exc.msg})"
                raise MalformedDataset(msg) from exc
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                msg = f"{path}:{number}: expected an object with a string 'text'"
                raise MalformedDataset(msg)
            if "label" not in item:
                msg = f"{path}:{number}: no 'label'"
                raise MalformedDataset(msg)
            yield item


def _build(
    root: Path | None,
    folder: str,
    mapping: Callable[[str], Mapping[str, int]],
    categories: tuple[str, ...],
    split_field: str | None = None,
    label_of: Callable[[Mapping[str, object]], str] | None = None,
) -> PublicDataset:
    rows = []
    for item in _read_jsonl(root, folder):
        text = str(item["text"])
        if not text.strip():
            continue  # an empty message carries no evidence for any label
        source = label_of(item) if label_of is not None else str(item["label"])
        try:
            labels = mapping(source)
        except KeyError as exc:
            msg = f"{folder}: label {source!r} has no mapping onto the taxonomy"
            raise MalformedDataset(msg) from exc
        split = item.get(split_field) if split_field else None
        rows.append(PublicRow(text, labels, source, None if split is None else str(split)))
    return PublicDataset(folder, tuple(rows), categories)


def _table(table: Mapping[str, Mapping[str, int]]) -> Callable[[str], Mapping[str, int]]:
    return lambda label: table[label]


_SPAM_HAM: Mapping[str, Mapping[str, int]] = {"spam": {"spam": 1}, "ham": {"spam": 0}}
_SPAM_CATEGORIES = ("spam", "fraud", "gambling", "sexual")


def load_sms_spam_collection(root: Path | None = None) -> PublicDataset:
    """SMS Spam Collection v.1; ``split`` is the paper's (1,674 train / 3,900 test)."""
    return _build(root, "sms_spam_collection_v1", _table(_SPAM_HAM), ("spam",), "paper_split")


def load_mendeley_smishing(root: Path | None = None) -> PublicDataset:
    """Mishra & Soni smishing set (ham / spam / smishing); no published split."""
    table = {"spam": {"spam": 1}, "ham": {"spam": 0, "fraud": 0}, "smishing": {"fraud": 1}}
    return _build(root, "mendeley_smishing_5971", _table(table), ("spam", "fraud"))


def load_mudou_spam(root: Path | None = None) -> PublicDataset:
    """Chinese SMS spam with its (leaky) train/test split."""
    return _build(root, "mudou_spam_zh", _table(_SPAM_HAM), ("spam",), "split")


def load_tg_spam(root: Path | None = None) -> PublicDataset:
    """Chinese chat spam; only the ``train`` split is in this copy."""
    return _build(root, "tg_spam_zh", _table(_SPAM_HAM), ("spam",), "split")


def _fbs_labels(label: str) -> Mapping[str, int]:
    exclusive = dict.fromkeys(_BAIT, NEGATIVE)
    if label.startswith("AD:") or label == "IL:Fake_ID_and_invoice":
        return {**exclusive, "spam": POSITIVE}
    if label.startswith("FR:"):
        return {**exclusive, "fraud": POSITIVE}
    if label == "IL:Gambling":
        return {**exclusive, "gambling": POSITIVE}
    if label == "IL:Escort_service":
        return {**exclusive, "sexual": POSITIVE}
    if label in ("IL:Political_propaganda", "Other"):
        return exclusive
    raise KeyError(label)


def load_fbs_sms(root: Path | None = None) -> PublicDataset:
    """FBS spam SMS (segmented, anonymised); ``source_label`` keeps the 14 categories."""
    return _build(root, "fbs_sms_zh", _fbs_labels, _SPAM_CATEGORIES)


def _telecom_labels(label: str) -> Mapping[str, int]:
    if label == "normal":
        return {"fraud": NEGATIVE}
    if label.startswith("fraud_"):
        return {"fraud": POSITIVE}
    raise KeyError(label)


def load_telecom_fraud(root: Path | None = None) -> PublicDataset:
    """Chinese telecom fraud, 4 fraud classes + normal (research use only)."""
    return _build(root, "telecom_fraud_texts_5_zh", _telecom_labels, ("fraud",))


def load_davidson(
    root: Path | None = None, offensive_as: Literal["negative", "unknown"] = "negative"
) -> PublicDataset:
    """Davidson et al. hate / offensive / neither tweets, in file order (no published split)."""
    offensive: Mapping[str, int] = {"hate": NEGATIVE} if offensive_as == "negative" else {}
    table = {
        "hate_speech": {"hate": POSITIVE},
        "offensive_language": offensive,
        "neither": {"hate": NEGATIVE},
    }
    return _build(root, "davidson_hate_offensive", _table(table), ("hate",))


def load_cold(root: Path | None = None) -> PublicDataset:
    """COLD Chinese offensive language; ``split`` train/dev (test held back)."""
    table = {"offensive": {"hate": POSITIVE}, "safe": {"hate": NEGATIVE}}
    return _build(root, "cold_chinese_offensive", _table(table), ("hate",), "split")


def load_stormfront(root: Path | None = None) -> PublicDataset:
    """Stormfront sentences; ``split`` is the authors' balanced sample (test held back)."""
    table: Mapping[str, Mapping[str, int]] = {
        "hate": {"hate": POSITIVE},
        "noHate": {"hate": NEGATIVE},
        "relation": {},
        "idk/skip": {},
    }
    return _build(root, "stormfront_hate_speech", _table(table), ("hate",), "sampled_split")


def load_olid(root: Path | None = None) -> PublicDataset:
    """OLID / OffensEval 2019: NOT → hate=0, OFF targeting a group → hate=1, other OFF unknown.

    ``source_label`` is ``NOT``, ``OFF`` or ``OFF/GRP`` (sub-task A, then B and C when they say
    the offence is a targeted insult of a group).
    """
    table: Mapping[str, Mapping[str, int]] = {
        "NOT": {"hate": NEGATIVE},
        "OFF": {},
        "OFF/GRP": {"hate": POSITIVE},
    }

    def label_of(item: Mapping[str, object]) -> str:
        label = str(item["label"])
        if label == "OFF" and item.get("subtask_b") == "TIN" and item.get("subtask_c") == "GRP":
            return "OFF/GRP"
        return label

    return _build(root, "olid_offenseval2019", _table(table), ("hate",), "split", label_of)


def load_weibo_rumor(root: Path | None = None) -> PublicDataset:
    """CED Weibo rumours: the extra ``rumor`` category."""
    table = {"rumor": {"rumor": POSITIVE}, "non_rumor": {"rumor": NEGATIVE}}
    return _build(root, "weibo_rumor_ced_zh", _table(table), ("rumor",))


def load_spamhunter(root: Path | None = None) -> PublicDataset:
    """SpamHunter's 947 labelled spam SMS: fraud or advertising (no ham)."""
    table = {"fraud": {"fraud": POSITIVE}, "spam_ad": {"spam": POSITIVE}}
    return _build(root, "spamhunter_sms", _table(table), ("spam", "fraud"))


LOADERS: Mapping[str, Callable[[Path | None], PublicDataset]] = {
    "sms_spam_collection_v1": load_sms_spam_collection,
    "mendeley_smishing_5971": load_mendeley_smishing,
    "mudou_spam_zh": load_mudou_spam,
    "tg_spam_zh": load_tg_spam,
    "fbs_sms_zh": load_fbs_sms,
    "telecom_fraud_texts_5_zh": load_telecom_fraud,
    "davidson_hate_offensive": load_davidson,
    "cold_chinese_offensive": load_cold,
    "stormfront_hate_speech": load_stormfront,
    "olid_offenseval2019": load_olid,
    "weibo_rumor_ced_zh": load_weibo_rumor,
    "spamhunter_sms": load_spamhunter,
}


def load(name: str, root: Path | None = None) -> PublicDataset:
    """Load one dataset folder by name (a key of ``LOADERS``)."""
    try:
        loader = LOADERS[name]
    except KeyError as exc:
        msg = f"no loader for {name!r}; known: {', '.join(sorted(LOADERS))}"
        raise DatasetNotFound(msg) from exc
    return loader(root)
