"""Labelled data readers and the split: both JSONL shapes, CSV, and errors naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.errors import LabelledDataError
from training.labelled_data import (
    label_matrix,
    label_set,
    latest_label_per_event,
    read_labelled,
    read_many,
)
from training.split import stratified_split

TAXONOMY = ("spam", "fraud", "hate")


def _jsonl(path: Path, *lines: object) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def test_reads_both_jsonl_shapes(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "rows.jsonl",
        {"text": "win money", "categories": ["spam", "fraud"], "lang": "en"},
        "",
        {"text": "你好", "categories": [], "kind": "hard_negative"},
        {"text": "vermin", "labels": {"hate": 1, "spam": 0, "fraud": None}},
    )
    rows = read_labelled(path)
    assert [r.origin for r in rows] == [f"{path}:1", f"{path}:3", f"{path}:4"]
    labels = label_set(rows)
    assert labels == ("spam", "fraud", "hate")
    assert label_matrix(rows, labels).tolist() == [[1, 1, 0], [0, 0, 0], [0, -1, 1]]
    assert [r.kind for r in rows] == [None, "hard_negative", None]
    assert rows[1].to_json()["kind"] == "hard_negative"


def test_reads_csv_with_unknown_cells(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('text,spam,rumor,lang\n"hi, there",0,,en\nbuy now,1,0,\n', encoding="utf-8")
    rows = read_labelled(path)
    assert label_set(rows) == ("spam", "rumor")
    assert label_matrix(rows, ("spam", "rumor")).tolist() == [[0, -1], [1, 0]]
    assert rows[0].text == "hi, there"
    assert rows[0].lang == "en"


@pytest.mark.parametrize(
    ("lines", "line_no", "message"),
    [
        ([{"text": "a", "categories": []}, "{broken"], 2, "malformed JSON"),
        ([{"text": 5, "categories": []}], 1, "'text' must be a string"),
        ([{"text": "a", "categories": []}, {"text": "b"}], 2, "exactly one of"),
        ([{"text": "a", "categories": ["rumour"]}], 1, "unknown category 'rumour'"),
        ([{"text": "a", "labels": {"spam": 2}}], 1, "use 1, 0 or null"),
        ([{"text": "a", "categories": "spam"}], 1, "list of category names"),
        (["[1, 2]"], 1, "JSON object"),
    ],
)
def test_jsonl_errors_name_file_and_line(
    tmp_path: Path, lines: list[object], line_no: int, message: str
) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", *lines)
    with pytest.raises(LabelledDataError) as caught:
        read_labelled(path, TAXONOMY)
    assert f"{path}:{line_no}:" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("content", "line_no", "message"),
    [
        ("body,spam\nx,1\n", 1, "no 'text' column"),
        ("text,spam\nx,1\ny,yes\n", 3, "holds 'yes'"),
        ("text,spam\nx,1,0\n", 2, "3 fields"),
        ("text,rumour\nx,1\n", 1, "unknown category 'rumour'"),
    ],
)
def test_csv_errors_name_file_and_line(
    tmp_path: Path, content: str, line_no: int, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelledDataError) as caught:
        read_labelled(path, TAXONOMY)
    assert f"{path}:{line_no}:" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        # each was a traceback from `chatguard evaluate --data` (UnicodeDecodeError,
        # RecursionError) instead of an error naming the file
        ("bad.jsonl", b'{"text": "a", "categories": []}\n{"text": "\xff"}\n', ":2: not UTF-8"),
        ("deep.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n", ":1: malformed JSON: nested"),
        ("latin1.csv", "text,spam\ncaf\u00e9,1\n".encode("latin-1"), ": not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_is_an_error_naming_it(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LabelledDataError) as caught:
        read_labelled(path, TAXONOMY)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(
        LabelledDataError, match=r"missing\.jsonl: labelled data file does not exist"
    ):
        read_many([tmp_path / "missing.jsonl"])
    (tmp_path / "rows.txt").write_text("x")
    with pytest.raises(LabelledDataError, match="unknown format"):
        read_labelled(tmp_path / "rows.txt")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(LabelledDataError, match="no labelled rows"):
        read_labelled(tmp_path / "empty.jsonl")


def test_split_is_seeded_disjoint_and_stratified() -> None:
    rng = np.random.default_rng(1)
    Y = np.zeros((1000, 3), dtype=np.int8)
    Y[:100, 0] = 1  # 10% spam
    Y[100:140, 1] = 1  # 4% fraud
    Y[500:, 2] = -1  # half the rows say nothing about hate
    Y[rng.choice(500, 50, replace=False), 2] = 1
    first = stratified_split(Y, val_fraction=0.15, test_fraction=0.15, seed=7)
    again = stratified_split(Y, val_fraction=0.15, test_fraction=0.15, seed=7)
    other = stratified_split(Y, val_fraction=0.15, test_fraction=0.15, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[2], other[2])
    train, val, test = first
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    for part, share in ((train, 0.7), (val, 0.15), (test, 0.15)):
        for j, positives in ((0, 100), (1, 40)):
            assert abs((Y[part, j] == 1).sum() - positives * share) <= 2
        assert abs((Y[part, 2] == -1).sum() - 500 * share) <= 3


def test_rows_keep_their_moderator_and_one_can_be_left_out(tmp_path: Path) -> None:
    store = tmp_path / "labels.jsonl"
    store.write_text(
        '{"text": "a", "categories": ["fraud"], "moderator_id": "m1", "event_id": "e1"}\n'
        '{"text": "b", "categories": [], "moderator_id": "m2", "event_id": "e2"}\n'
        '{"text": "c", "categories": ["spam"]}\n'
    )
    assert [row.moderator for row in read_many([store])] == ["m1", "m2", None]
    kept = read_many([store], exclude_moderators=["m1"])
    assert [row.text for row in kept] == ["b", "c"]


def _store_row(event_id: str, categories: list[str], at: float, moderator: str = "m1") -> dict:
    return {
        "text": f"text of {event_id}",
        "categories": categories,
        "source": "moderator",
        "event_id": event_id,
        "moderator_id": moderator,
        "labelled_at": at,
    }


def test_a_replayed_label_is_one_row_and_the_latest_label_of_an_event_wins(tmp_path: Path) -> None:
    """Ten replays of one signed clean label on a quoted scam turned the next model's block of
    that scam into an allow: each copy was a training row. A replay of a label a moderator has
    since corrected does not undo the correction, whatever its place in the file."""
    path = tmp_path / "labels.jsonl"
    corpus = {"text": "see you at lunch", "categories": []}
    rows = [
        corpus,
        corpus,
        *[_store_row("e1", [], 100.0)] * 50,
        _store_row("e2", ["spam"], 100.0),
        _store_row("e2", [], 200.0),  # corrected
        _store_row("e2", ["spam"], 100.0),  # the old label sent again
        _store_row("e3", ["fraud"], 100.0, moderator="m1"),
        _store_row("e3", [], 300.0, moderator="careless"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    read = read_many([path])
    assert [r.text for r in read].count("see you at lunch") == 2  # rows with no event all stay
    assert [r.text for r in read].count("text of e1") == 1
    (e2,) = [r for r in read if r.event_id == "e2"]
    assert e2.labelled_at == 200.0 and e2.value("spam") == 0
    (e3,) = [r for r in read if r.event_id == "e3"]
    assert e3.moderator == "careless"
    # leaving a moderator out leaves the other's label of the same event
    (e3,) = [r for r in read_many([path], exclude_moderators={"careless"}) if r.event_id == "e3"]
    assert e3.moderator == "m1" and e3.value("fraud") == 1


def test_a_label_dated_in_the_future_never_beats_a_later_correction(tmp_path: Path) -> None:
    """By its date, a label from a clock that ran ten years ahead beat every correction of its
    event for good (an outside probe stored one). Dated ahead of the reading, it loses to any
    other label of its event; alone it is still the event's label."""
    path = tmp_path / "labels.jsonl"
    now = 1_800_000_000.0
    rows = [
        _store_row("e1", ["spam"], now + 10 * 365 * 86_400.0),  # a clock far ahead
        _store_row("e1", [], now - 60.0, moderator="m2"),  # the correction, an hour later
        _store_row("e2", ["spam"], now + 10 * 365 * 86_400.0),
        _store_row("e3", [], now + 60.0),  # a minute ahead: within the slack
        _store_row("e3", ["spam"], now - 60.0),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    read = {r.event_id: r for r in latest_label_per_event(read_labelled(path), now=now)}
    assert read["e1"].moderator == "m2" and read["e1"].value("spam") == 0
    assert read["e2"].value("spam") == 1
    assert read["e3"].value("spam") == 0


def test_two_messages_sent_under_one_event_id_keep_a_label_each(tmp_path: Path) -> None:
    """Event ids come from clients: a scam labelled fraud and a greeting later labelled clean
    under the same id were one event, and training kept only the greeting's label (an outside
    probe). An event is its id and its text; a correction of the same text still wins."""
    path = tmp_path / "labels.jsonl"
    scam = _store_row("shared", ["fraud"], 100.0) | {"text": "转账到安全账户 8812"}
    greeting = _store_row("shared", [], 200.0, moderator="m2") | {"text": "see you at 7"}
    corrected = greeting | {"categories": ["spam"], "labelled_at": 300.0}
    rows = [scam, greeting, corrected]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    read = {r.text: r for r in read_many([path])}
    assert set(read) == {"转账到安全账户 8812", "see you at 7"}
    assert read["转账到安全账户 8812"].value("fraud") == 1
    assert read["see you at 7"].labelled_at == 300.0
