"""Labelled data files (JSONL, CSV) → ``LabelledRow``s, with errors that name the file and line.

JSONL rows take one of two shapes (see ``docs/design.md``):

- ``{"text": ..., "categories": ["fraud", "spam"]}``: fully labelled; every category of the
  label set not listed is negative (``[]`` = clean).
- ``{"text": ..., "labels": {"spam": 1, "hate": 0}}``: partly labelled; categories not listed
  are unknown and masked out of training for that row (``null`` also means unknown).

CSV: a ``text`` column plus one column per category holding ``1``, ``0`` or empty (unknown);
the columns ``lang``, ``id`` and ``source`` are carried, not labels.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.taxonomy import TAXONOMY
from training.errors import LabelledDataError

DEFAULT_TAXONOMY = TAXONOMY
CSV_RESERVED = ("text", "lang", "id", "source")
# how far ahead of the reader's clock a label's time may be (the workers' FUTURE_SLACK_S)
CLOCK_SLACK_S = 300.0
POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1


@dataclass(frozen=True)
class LabelledRow:
    """One labelled text. ``labels`` holds the explicit 1/0 values; ``complete`` rows are negative
    for every category they do not list, partial rows unknown."""

    text: str
    labels: Mapping[str, int] = field(default_factory=dict)
    complete: bool = True
    lang: str | None = None
    origin: str = ""
    moderator: str | None = None  # who labelled it, for rows from the moderator label store
    # what sort of clean row this is ("everyday", "hard_negative"): hard negatives have a
    # false-positive budget of their own (``training.thresholds``); None counts as everyday
    kind: str | None = None
    # what its writer was asked to write about ("family_money", "parcel_refund"): the lines of one
    # file on one topic came from one brief and are alike, so cross-validation keeps them in one
    # fold (``training.split.writing_batches``); None for a row without one
    topic: str | None = None
    # the text this row was made from (``training.augment``): it joins that text's group, so the
    # two never fall in different folds; None for a row a person wrote or labelled
    copy_of: str | None = None
    # the event a moderator label is of and when it was given (label store rows): a label sent
    # again, by a replay of its signed record, is that event's label once (``read_many``)
    event_id: str | None = None
    labelled_at: float | None = None

    def value(self, label: str) -> int:
        """1, 0, or -1 when this row says nothing about ``label``."""
        return self.labels.get(label, NEGATIVE if self.complete else UNKNOWN)

    def to_json(self) -> dict[str, Any]:
        """The row in a JSONL shape ``read_labelled`` reads back."""
        row: dict[str, Any] = {"text": self.text}
        if self.complete:
            row["categories"] = sorted(k for k, v in self.labels.items() if v == POSITIVE)
        else:
            row["labels"] = dict(sorted(self.labels.items()))
        if self.lang:
            row["lang"] = self.lang
        if self.kind:
            row["kind"] = self.kind
        return row


def read_labelled(path: Path | str, taxonomy: Sequence[str] | None = None) -> list[LabelledRow]:
    """Read a ``.jsonl`` or ``.csv`` file. With ``taxonomy``, any other label is an error."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: labelled data file does not exist"
        raise LabelledDataError(msg)
    try:
        if path.suffix.lower() == ".csv":
            rows = _read_csv(path, taxonomy)
        elif path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            rows = _read_jsonl(path, taxonomy)
        else:
            msg = f"{path}: unknown format {path.suffix!r}; use .jsonl or .csv"
            raise LabelledDataError(msg)
    except UnicodeDecodeError as exc:  # a CSV read in text mode: the line is not known here
        msg = f"{path}: not UTF-8 ({exc.reason}); save the file as UTF-8"
        raise LabelledDataError(msg) from exc
    if not rows:
        msg = f"{path}: no labelled rows"
        raise LabelledDataError(msg)
    return rows


def read_many(
    paths: Iterable[Path | str],
    taxonomy: Sequence[str] | None = None,
    *,
    exclude_moderators: Collection[str] = (),
) -> list[LabelledRow]:
    """All rows of several files, in order, without those labelled by ``exclude_moderators``
    (a moderator found careless or compromised after the fact)."""
    rows: list[LabelledRow] = []
    for path in paths:
        rows.extend(read_labelled(path, taxonomy))
    if exclude_moderators:
        rows = [row for row in rows if row.moderator not in exclude_moderators]
    return latest_label_per_event(rows)


def latest_label_per_event(
    rows: Sequence[LabelledRow], now: float | None = None
) -> list[LabelledRow]:
    """``rows`` with one moderator label per event: the latest given, the first of a tie.

    A signed label is valid however often it is sent, so anyone who can read the labels topic
    can send one again; 500 copies of one label were 500 training rows, and ten copies of a
    clean label on a quoted scam turned the next model's block of that scam into an allow. The
    latest label wins, so a moderator's correction stands against a replay of the label it
    corrected. An event is its id and its text: ids come from clients, and a clean label of a
    greeting sent under a scam's id dropped the scam's fraud label (an outside probe). Rows
    without an event (corpus and public sets) are all kept.

    A label dated more than ``CLOCK_SLACK_S`` after ``now`` (the time of reading) comes from a
    clock that ran ahead and loses to every other label of its event: by its date it would
    beat every later correction for good. Workers refuse such labels; a store written before
    they did may still hold one."""
    ahead = (time.time() if now is None else now) + CLOCK_SLACK_S
    latest: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        if row.event_id is None:
            continue
        event = (row.event_id, row.text)
        kept = latest.get(event)
        if kept is None or _rank(row, ahead) > _rank(rows[kept], ahead):
            latest[event] = i
    chosen = set(latest.values())
    return [row for i, row in enumerate(rows) if row.event_id is None or i in chosen]


def _rank(row: LabelledRow, ahead: float) -> float:
    at = row.labelled_at or 0.0
    return at if at <= ahead else -math.inf


def label_set(rows: Iterable[LabelledRow]) -> tuple[str, ...]:
    """Every category the rows name: the default taxonomy's order first, then the others sorted."""
    seen: set[str] = set()
    for row in rows:
        seen.update(row.labels)
    known = [label for label in DEFAULT_TAXONOMY if label in seen]
    return (*known, *sorted(seen - set(DEFAULT_TAXONOMY)))


def label_matrix(rows: Sequence[LabelledRow], labels: Sequence[str]) -> np.ndarray:
    """``(len(rows), len(labels))`` of 1, 0 and -1 (unknown)."""
    Y = np.empty((len(rows), len(labels)), dtype=np.int8)
    for i, row in enumerate(rows):
        for j, label in enumerate(labels):
            Y[i, j] = row.value(label)
    return Y


def label_counts(Y: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """Positive, negative and unknown row counts per category."""
    return {
        label: {
            "positive": int((Y[:, j] == POSITIVE).sum()),
            "negative": int((Y[:, j] == NEGATIVE).sum()),
            "unknown": int((Y[:, j] == UNKNOWN).sum()),
        }
        for j, label in enumerate(labels)
    }


def data_snapshot(paths: Sequence[Path | str]) -> dict[str, Any]:
    """sha256 of each input file and of them all, so a model names exactly what it learned from."""
    files = []
    combined = hashlib.sha256()
    for path in paths:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        combined.update(digest.encode())
        files.append({"name": Path(path).name, "sha256": digest})
    return {"sha256": combined.hexdigest(), "files": files}


def text_hashes(texts: Iterable[str]) -> np.ndarray:
    """64-bit digests of texts, to tell later which texts a model was trained on."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            for t in texts
        ),
        dtype=np.uint64,
    )


def _read_jsonl(path: Path, taxonomy: Sequence[str] | None) -> list[LabelledRow]:
    rows = []
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            where = f"{path}:{line_no}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                msg = f"{where}: not UTF-8 ({exc.reason} at byte {exc.start} of the line)"
                raise LabelledDataError(msg) from exc
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{where}: malformed JSON: {exc.msg} (column {exc.colno})"
                raise LabelledDataError(msg) from exc
            except RecursionError as exc:
                msg = f"{where}: malformed JSON: nested too deep"
                raise LabelledDataError(msg) from exc
            rows.append(_row_from_json(data, where, taxonomy))
    return rows


def _row_from_json(data: object, where: str, taxonomy: Sequence[str] | None) -> LabelledRow:
    if not isinstance(data, dict):
        msg = f"{where}: a row must be a JSON object, got {type(data).__name__}"
        raise LabelledDataError(msg)
    text = data.get("text")
    if not isinstance(text, str):
        msg = f"{where}: 'text' must be a string, got {type(text).__name__}"
        raise LabelledDataError(msg)
    moderator = _optional_text(data, "moderator_id")
    at = data.get("labelled_at")
    provenance = LabelledRow(
        text,
        lang=_optional_text(data, "lang"),
        origin=where,
        moderator=moderator,
        kind=_optional_text(data, "kind"),
        topic=_optional_text(data, "topic"),
        # the event of a moderator's label; a corpus row's event_id, if any, names nothing
        event_id=_optional_text(data, "event_id") if moderator is not None else None,
        labelled_at=float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None,
    )
    has_categories, has_labels = "categories" in data, "labels" in data
    if has_categories == has_labels:
        msg = f"{where}: a row needs exactly one of 'categories' (list) or 'labels' (object)"
        raise LabelledDataError(msg)
    labels: dict[str, int] = {}
    if has_categories:
        categories = data["categories"]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            msg = f"{where}: 'categories' must be a list of category names"
            raise LabelledDataError(msg)
        for name in categories:
            labels[_label_name(name, where, taxonomy)] = POSITIVE
        return replace(provenance, labels=labels, complete=True)
    raw = data["labels"]
    if not isinstance(raw, dict):
        msg = f"{where}: 'labels' must be an object of category → 1, 0 or null"
        raise LabelledDataError(msg)
    for name, value in raw.items():
        label = _label_name(name, where, taxonomy)
        if value is None:
            continue
        if value not in (0, 1) or isinstance(value, float):
            msg = f"{where}: label {name!r} has value {value!r}; use 1, 0 or null"
            raise LabelledDataError(msg)
        labels[label] = int(value)
    return replace(provenance, labels=labels, complete=False)


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    """``data[name]`` if it is a string, else None: provenance, never a reason to refuse a row."""
    value = data.get(name)
    return value if isinstance(value, str) else None


def _label_name(name: str, where: str, taxonomy: Sequence[str] | None) -> str:
    label = name.strip()
    if not label:
        msg = f"{where}: empty category name"
        raise LabelledDataError(msg)
    if taxonomy is not None and label not in taxonomy:
        msg = f"{where}: unknown category {label!r}; the taxonomy is {', '.join(taxonomy)}"
        raise LabelledDataError(msg)
    return label


def _read_csv(path: Path, taxonomy: Sequence[str] | None) -> list[LabelledRow]:
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            return []
        except csv.Error as exc:
            msg = f"{path}:1: malformed CSV header: {exc}"
            raise LabelledDataError(msg) from exc
        columns = [c.strip() for c in header]
        if "text" not in columns:
            msg = f"{path}:1: the header has no 'text' column (columns: {columns})"
            raise LabelledDataError(msg)
        label_columns = [
            (i, _label_name(c, f"{path}:1", taxonomy))
            for i, c in enumerate(columns)
            if c not in CSV_RESERVED
        ]
        text_at = columns.index("text")
        lang_at = columns.index("lang") if "lang" in columns else None
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                msg = f"{path}:{start}: malformed CSV: {exc}"
                raise LabelledDataError(msg) from exc
            if not any(cell.strip() for cell in record):
                continue
            where = f"{path}:{start}"
            if len(record) != len(columns):
                msg = f"{where}: {len(record)} fields, the header has {len(columns)}"
                raise LabelledDataError(msg)
            labels: dict[str, int] = {}
            for i, label in label_columns:
                cell = record[i].strip()
                if cell == "":
                    continue
                if cell not in ("0", "1"):
                    msg = f"{where}: column {label!r} holds {cell!r}; use 1, 0 or empty"
                    raise LabelledDataError(msg)
                labels[label] = int(cell)
            lang = record[lang_at].strip() or None if lang_at is not None else None
            rows.append(LabelledRow(record[text_at], labels, False, lang, where))
    return rows
