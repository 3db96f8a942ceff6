"""The label store writes a batch whole or not at all: short writes, a full disk, a size limit."""

from __future__ import annotations

import errno
import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.labels import LabelStore, LabelStoreError
from training.labelled_data import read_labelled


def _labels(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"l{i}",
            "text": f"label text number {i} " + "x" * 200,
            "categories": ["spam"] if i % 2 else [],
            "moderator_id": "m1",
            "labelled_at": 1_700_000_000.0 + i,
        }
        for i in range(start, start + count)
    ]


def _event_ids(path: Path) -> list[str]:
    return [orjson.loads(line)["event_id"] for line in path.read_bytes().splitlines()]


def test_short_writes_are_continued_until_the_batch_is_whole(tmp_path: Path) -> None:
    calls: list[int] = []

    def short_write(fd: int, data: bytes) -> int:
        """Like a kernel under pressure: takes at most 100 bytes per call."""
        calls.append(len(data))
        return os.write(fd, data[:100])

    store = LabelStore(tmp_path / "labels.jsonl", write=short_write)
    assert store.append(_labels(5)) == 5
    assert len(calls) > 5  # it really was written in pieces
    assert _event_ids(store.path) == [f"l{i}" for i in range(5)]
    assert len(read_labelled(store.path)) == 5  # what training reads


def test_a_write_that_takes_nothing_is_an_error_not_a_loop(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.jsonl", write=lambda fd, data: 0)
    with pytest.raises(LabelStoreError) as raised:
        store.append(_labels(1))
    assert raised.value.errno == errno.ENOSPC


def test_a_full_device_raises_without_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.symlink_to("/dev/full")  # the kernel answers every write with ENOSPC
    with pytest.raises(LabelStoreError) as raised:
        LabelStore(path).append(_labels(2))
    assert raised.value.errno == errno.ENOSPC
    assert "ENOSPC" in str(raised.value) and str(tmp_path) not in str(raised.value)


@pytest.fixture
def file_size_limit() -> Iterator[tuple[int, int]]:
    """RLIMIT_FSIZE as the test sets it, restored after; SIGXFSZ ignored so writes fail with
    EFBIG instead of killing the process."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield limits
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_batch_cut_short_by_the_kernel_is_cut_back_off_the_file(
    tmp_path: Path, file_size_limit: tuple[int, int]
) -> None:
    store = LabelStore(tmp_path / "labels.jsonl")
    store.append(_labels(3))
    before = store.path.read_bytes()
    # the kernel writes up to the limit (a short write), then refuses with EFBIG
    limit = len(before) + 300
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, file_size_limit[1]))
    with pytest.raises(LabelStoreError) as raised:
        store.append(_labels(4, start=3))
    assert raised.value.errno == errno.EFBIG
    assert store.path.read_bytes() == before  # no half line left behind
    resource.setrlimit(resource.RLIMIT_FSIZE, file_size_limit)
    store.append(_labels(4, start=3))  # the same batch, written again later
    assert _event_ids(store.path) == [f"l{i}" for i in range(7)]
    assert len(read_labelled(store.path)) == 7


def test_a_label_sent_again_is_stored_once_across_workers_and_restarts(tmp_path: Path) -> None:
    """A signed label stays valid, so anyone reading the labels topic can send it again: each
    copy was a row before. Another worker's store, or a restarted one, sees what is in the file."""
    path = tmp_path / "labels.jsonl"
    first, second = LabelStore(path), LabelStore(path)
    assert first.append(_labels(3)) == 3
    assert first.append(_labels(3)) == 0
    assert second.append(_labels(4)) == 1  # the fourth is new; the first three another wrote
    assert LabelStore(path).append(_labels(4) + _labels(4)) == 0
    assert _event_ids(path) == ["l0", "l1", "l2", "l3"]
    # a moderator's correction (same event, later) is another label
    corrected = [{**_labels(1)[0], "categories": ["fraud"], "labelled_at": 1_800_000_000.0}]
    assert second.append(corrected) == 1
    assert _event_ids(path) == ["l0", "l1", "l2", "l3", "l0"]
    # a new file at the path (rotated, or the disk re-pointed) holds none of them
    path.rename(tmp_path / "labels-old.jsonl")
    assert first.append(_labels(2)) == 2
    assert _event_ids(path) == ["l0", "l1"]
