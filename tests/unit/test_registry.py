"""Registry: versions, promote, rollback, and a CURRENT pointer that is never seen half-written."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from models.bounded_read import read_bounded
from models.classifier import ModerationClassifier
from models.errors import ModelError, NoCurrentModel, NothingToRollBack, UnknownVersion
from models.policy import Thresholds
from models.registry import CURRENT_FILE, ModelRegistry
from models.signing import load_public_key
from models.version_folder import VersionFolder
from tests.conftest import ModelKeys
from tests.unit.toy_corpus import LABELS, toy_data


@pytest.fixture(scope="module")
def fitted() -> ModerationClassifier:
    texts, Y = toy_data(150)
    return ModerationClassifier().fit(texts, Y, LABELS)


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


def _save(registry: ModelRegistry, model: ModerationClassifier) -> str:
    return registry.save(model, thresholds={k: Thresholds(0.5, 0.9) for k in LABELS})


def test_empty_registry(registry: ModelRegistry) -> None:
    assert registry.versions() == []
    assert registry.current_version() is None
    with pytest.raises(NoCurrentModel, match="chatguard train --promote"):
        registry.load_current()


def test_promote_and_roll_back(registry: ModelRegistry, fitted: ModerationClassifier) -> None:
    a, b, c = (_save(registry, fitted) for _ in range(3))
    assert registry.versions() == sorted([a, b, c])
    registry.promote(a)
    registry.promote(b)
    registry.promote(c)
    assert registry.load_current().version == c
    assert registry.rollback() == b
    assert registry.rollback() == a
    with pytest.raises(NothingToRollBack):
        registry.rollback()
    assert registry.current_version() == a
    events = [(e["event"], e["version"]) for e in registry.history()]
    assert events[-2:] == [("rollback", b), ("rollback", a)]


@pytest.mark.parametrize(
    "damage",
    [
        b"not json\n",
        b"[1, 2]\n",
        b"\xff\n",
        b'{"event": "promote", "version": "%b", "previous": 123}\n',
    ],
)
def test_a_damaged_history_is_an_error_naming_it_not_a_guess(
    registry: ModelRegistry, fitted: ModerationClassifier, damage: bytes
) -> None:
    """Each of these was a traceback from `chatguard rollback` (JSONDecodeError, AttributeError,
    UnicodeDecodeError, TypeError)."""
    a, b = _save(registry, fitted), _save(registry, fitted)
    registry.promote(a)
    registry.promote(b)
    with (registry.root / "history.jsonl").open("ab") as history:
        history.write(damage.replace(b"%b", b.encode()))
    with pytest.raises(ModelError, match=r"history\.jsonl"):
        registry.rollback()
    assert registry.current_version() == b


def test_loaded_current_scores(registry: ModelRegistry, fitted: ModerationClassifier) -> None:
    version = _save(registry, fitted)
    registry.promote(version)
    loaded = registry.load_current()
    assert np.array_equal(loaded.score(["free prize"]), fitted.predict_proba(["free prize"]))


def test_unknown_versions_are_refused(registry: ModelRegistry) -> None:
    for name in ("v-missing", "../elsewhere", ""):
        with pytest.raises(UnknownVersion):
            registry.promote(name)
    assert registry.current_version() is None


def test_current_pointer_is_replaced_atomically(
    registry: ModelRegistry, fitted: ModerationClassifier
) -> None:
    a, b = _save(registry, fitted), _save(registry, fitted)
    registry.promote(a)
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add((registry.root / CURRENT_FILE).read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            registry.promote(b if i % 2 == 0 else a)
    finally:
        done.set()
        reader.join()
    assert seen <= {a + "\n", b + "\n"}
    assert len(seen) == 2
    leftovers = [p.name for p in registry.root.iterdir() if p.name.startswith(".CURRENT")]
    assert leftovers == []


def test_problem_says_what_vanished_without_a_path(
    registry: ModelRegistry, fitted: ModerationClassifier
) -> None:
    assert registry.problem() == "the registry folder is missing"
    version = _save(registry, fitted)
    assert registry.problem() == "the registry has no CURRENT pointer"
    registry.promote(version)
    assert registry.problem() is None
    moved = registry.root.parent / "moved-away"
    registry.path(version).rename(moved)
    problem = registry.problem()
    assert problem is not None and version in problem and str(registry.root) not in problem
    moved.rename(registry.versions_dir / version)
    (registry.root / CURRENT_FILE).unlink()
    assert registry.problem() == "the registry has no CURRENT pointer"


def _promptly(call: Callable[[], object], fifo: Path) -> BaseException | object:
    """``call()``'s result or exception, asserting it came within 10 s. A call blocked on the
    FIFO is released by opening the FIFO for writing, so a failing test still ends."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        with open(fifo, "wb"):  # releases the reader
            pass
        thread.join(10)
        pytest.fail("blocked reading a FIFO")
    return outcome[0]


def test_a_fifo_or_a_device_in_the_registry_is_refused_at_once(
    registry: ModelRegistry, fitted: ModerationClassifier, model_keys: ModelKeys
) -> None:
    """The registry's writer can put anything in it: a FIFO as CURRENT held every worker's event
    loop until something wrote to it, and /dev/zero would be read without end. Each is refused
    without blocking, and the current model stays loadable once CURRENT is a file again."""
    version = _save(registry, fitted)
    registry.sign(version, model_keys.private_key)
    registry.promote(version)
    public = load_public_key(model_keys.public)
    current = registry.root / CURRENT_FILE
    current.unlink()
    os.mkfifo(current)
    assert isinstance(_promptly(registry.current_version, current), OSError)
    problem = _promptly(registry.problem, current)
    assert problem == "the registry's CURRENT pointer cannot be read (not a regular file)"
    current.unlink()
    current.symlink_to("/dev/zero")
    assert isinstance(_promptly(registry.current_version, current), OSError)
    current.unlink()
    registry.promote(version)  # a file again
    folder = VersionFolder(registry.path(version))
    for name in ("metadata", "signature", "model"):
        path = getattr(folder, name)
        kept = path.with_name(path.name + ".kept")
        path.rename(kept)
        os.mkfifo(path)
        refused = _promptly(lambda: registry.load(version, public), path)
        assert isinstance(refused, ModelError), (name, refused)
        path.unlink()
        kept.rename(path)
    assert registry.load_current(public).version == version


def test_read_bounded_reads_regular_files_up_to_their_limit(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"x" * 100)
    assert read_bounded(small, 100) == b"x" * 100
    with pytest.raises(OSError, match="larger than 99 bytes"):
        read_bounded(small, 99)
    with pytest.raises(OSError, match="not a regular file"):
        read_bounded(tmp_path, 100)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 100)
