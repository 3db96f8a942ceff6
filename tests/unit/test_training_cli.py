"""The training CLI end to end on the seed corpus: train → classify → models → evaluate → the
promotion gate refusing a worse candidate → force → rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatguard.cli import main
from models.registry import ModelRegistry

PHISHING_EN = "Your account is locked, verify now at http://secure-bank.top"
GAMBLING_ZH = "澳门葡京线上赌场，首充送100%，天天返水"
CLEAN_EN = "Thanks for dinner last night, see you soon"
CLEAN_ZH = "明天下午三点开会，记得带电脑"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("cli-registry")
    assert main(["train", "--registry", str(root), "--promote", "--quiet"]) == 0
    current = ModelRegistry(root).current_version()
    assert current is not None
    return root, current


def test_train_writes_a_complete_version(trained: tuple[Path, str]) -> None:
    root, version = trained
    folder = root / "versions" / version
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["labels"] == ["spam", "fraud", "sexual", "gambling", "extremism", "hate"]
    assert meta["data"]["files"][0]["name"] == "seed_corpus.jsonl"
    assert meta["data"]["label_counts"]["fraud"]["positive"] > 0
    # what the classifier says about itself (the artifact does not read its internals)
    assert meta["feature_params"]["char_ngram_range"] == [1, 4]
    assert meta["model_params"]["base"] == "svm" and meta["signal_names"] == []
    for name in ("report/report.md", "report/report.json", "report/pr_fraud.png", "holdout.jsonl"):
        assert (folder / name).is_file(), name
    # a model that learned each category, on the bundled data's held-out 15%. The split holds
    # out a corpus file's topics whole, so most test rows are of topics training never saw: 0.63
    # (extremism) to 0.93 (gambling) on 2026-12-05, against positive shares of 4-11%; with
    # topic-mates in training it was 0.84 and up
    for label, m in meta["metrics"]["test"].items():
        share = m["positives"] / (m["positives"] + m["negatives"])
        assert m["pr_auc"] > max(0.5, 5 * share), (label, m)


def test_classify_english_and_chinese(
    trained: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, version = trained
    texts = [PHISHING_EN, GAMBLING_ZH, CLEAN_EN, CLEAN_ZH]
    code, out, _ = _run(capsys, "classify", "--registry", str(root), "--json", *texts)
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == texts
    assert all(r["model_version"] == version for r in records)
    assert records[0]["action"] != "allow" and "fraud" in records[0]["triggered"]
    assert records[1]["action"] != "allow" and "gambling" in records[1]["triggered"]
    assert records[2]["action"] == records[3]["action"] == "allow"
    assert set(records[0]["scores"]) == {"spam", "fraud", "sexual", "gambling", "extremism", "hate"}

    code, out, _ = _run(capsys, "classify", "--registry", str(root), PHISHING_EN)
    assert code == 0
    assert "fraud" in out and out.split()[0] in ("review", "block")


def test_classify_explains_which_words_raised_the_top_category(
    trained: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = trained
    texts = [PHISHING_EN, GAMBLING_ZH]
    code, out, _ = _run(capsys, "classify", "--registry", str(root), "--json", "--explain", *texts)
    assert code == 0
    for text, record in zip(texts, map(json.loads, out.splitlines()), strict=True):
        explained = record["explanation"]
        assert explained["category"] == max(record["scores"], key=record["scores"].get)
        effects = [w["effect"] for w in explained["words"]]
        assert effects and effects == sorted(effects, reverse=True) and effects[-1] > 0
        assert all(w["word"] in text for w in explained["words"])
    code, out, _ = _run(capsys, "classify", "--registry", str(root), "--explain", PHISHING_EN)
    assert code == 0 and "words raising fraud: " in out


def test_classify_reads_a_jsonl_file_and_reports_its_errors(
    trained: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = trained
    messages = tmp_path / "messages.jsonl"
    messages.write_text(
        json.dumps({"text": CLEAN_ZH})
        + "\n"
        + json.dumps({"text": GAMBLING_ZH}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    code, out, _ = _run(
        capsys, "classify", "--registry", str(root), "--file", str(messages), "--json"
    )
    assert code == 0
    first, second = (json.loads(line)["action"] for line in out.splitlines())
    assert first == "allow" and second != "allow"
    messages.write_text(json.dumps({"text": "ok"}) + "\n{oops\n")
    code, _, err = _run(capsys, "classify", "--registry", str(root), "--file", str(messages))
    assert code == 1
    assert f"{messages}:2: malformed JSON" in err


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"text": "caf\xe9"}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "unreadable JSON"),
        (b'{"text": "a", "n": ' + b"9" * 5_000 + b"}", "unreadable JSON"),
        (b'{"text": "' + b"a" * 20_001 + b'"}', "a worker scores at most 20000"),
    ],
)
def test_classify_names_the_line_of_what_it_cannot_read(
    trained: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: bytes,
    error: str,
) -> None:
    """Invalid UTF-8, JSON nested 100,000 deep and a number of 5,000 digits were tracebacks; a
    line longer than a worker scores took 3.5 GB (21 MB) before it failed."""
    root, _ = trained
    messages = tmp_path / "messages.jsonl"
    messages.write_bytes(b'{"text": "ok"}\n\n' + line + b"\n")
    code, _, err = _run(capsys, "classify", "--registry", str(root), "--file", str(messages))
    assert code == 1 and f"{messages}:3: " in err and error in err, err


def test_classify_reads_a_lone_surrogate_as_the_worker_does(
    trained: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = trained
    messages = tmp_path / "messages.jsonl"
    messages.write_text('{"text": "free gift \\ud83c"}\n')
    code, out, err = _run(
        capsys, "classify", "--registry", str(root), "--file", str(messages), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["text"] == "free gift \ufffd"


def test_bad_training_file_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "labels.jsonl"
    data.write_text('{"text": "a", "categories": []}\n{"text": "b", "categories": ["rumour"]}\n')
    code, _, err = _run(
        capsys,
        "train",
        "--registry",
        str(tmp_path / "r"),
        "--data",
        str(data),
        "--taxonomy",
        "spam,fraud",
        "--quiet",
    )
    assert code == 1
    assert f"{data}:2: unknown category 'rumour'" in err
    code, _, err = _run(capsys, "train", "--registry", str(tmp_path / "r"), "--data", "nope.jsonl")
    assert code == 1
    assert "nope.jsonl: labelled data file does not exist" in err


def test_evaluate_writes_a_report(
    trained: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, version = trained
    holdout = root / "versions" / version / "holdout.jsonl"
    out_dir = tmp_path / "eval"
    code, _, _ = _run(
        capsys,
        "evaluate",
        version,
        "--registry",
        str(root),
        "--data",
        str(holdout),
        "--out",
        str(out_dir),
    )
    assert code == 0
    report = json.loads((out_dir / "report.json").read_text())
    assert report["model_version"] == version
    assert set(report["metrics"]) >= {"fraud", "hate"}
    assert (out_dir / "pr_hate.png").read_bytes()[:4] == b"\x89PNG"
    assert "PR-AUC" in (out_dir / "report.md").read_text()


def test_gate_refuses_a_worse_candidate(
    trained: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, good = trained
    registry = ModelRegistry(root)
    # no vocabulary and 16 hash buckets per n-gram block: the same data, a much weaker model
    code, _, err = _run(
        capsys,
        "train",
        "--registry",
        str(root),
        "--quiet",
        "--promote",
        "--param",
        "min_df=null",
        "--param",
        "word_features=16",
        "--param",
        "char_features=16",
    )
    assert code == 1
    assert "refusing to promote" in err
    assert registry.current_version() == good
    worse = registry.versions()[-1]
    assert worse != good

    code, _, err = _run(capsys, "promote", worse, "--registry", str(root))
    assert code == 1 and "WORSE" in err
    assert registry.current_version() == good

    code, out, _ = _run(capsys, "promote", worse, "--registry", str(root), "--force")
    assert code == 0 and registry.current_version() == worse

    code, out, _ = _run(capsys, "models", "--registry", str(root))
    assert f"* {worse}" in out and f"  {good}" in out

    code, out, _ = _run(capsys, "rollback", "--registry", str(root))
    assert code == 0 and registry.current_version() == good


def test_train_can_leave_a_moderators_labels_out(
    trained: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.recipes import SEED_CORPUS, clean_corpus_files

    root, seed_version = trained
    poisoned = tmp_path / "labels.jsonl"
    rows = [
        {
            "text": f"see you at {h} at the library",
            "categories": ["hate"],
            "moderator_id": "mallory",
        }
        for h in range(1, 40)
    ]
    poisoned.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, _, _ = _run(
        capsys,
        "train",
        "--registry",
        str(root),
        *(f"--data={path}" for path in (SEED_CORPUS, *clean_corpus_files(), poisoned)),
        "--exclude-moderator",
        "mallory",
        "--quiet",
    )
    assert code == 0
    registry = ModelRegistry(root)
    meta = registry.metadata(registry.versions()[-1])
    assert meta["data"]["excluded_moderators"] == ["mallory"]
    seed_meta = registry.metadata(seed_version)
    assert meta["data"]["label_counts"] == seed_meta["data"]["label_counts"]


def test_a_recipe_trains_with_the_label_store_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Moderators' labels go into a model trained on the recipe's rows as well: a model from the
    labels alone lacks the public sets and loses every gate against the served one."""
    root = tmp_path / "registry"
    store = tmp_path / "labels.jsonl"
    rows = [
        {
            "text": f"limited offer number {i}, join the vip group for free gifts",
            "categories": ["spam"],
            "source": "moderator",
            "event_id": f"e{i}",
            "moderator_id": "m1" if i < 30 else "mallory",
            "labelled_at": 1_700_000_000.0,
        }
        for i in range(40)
    ]
    rows += [{**rows[0]} for _ in range(100)]  # one label sent again: one row
    store.write_text("".join(json.dumps(row) + "\n" for row in rows))
    argv = ["train", "--registry", str(root), "--recipe", "seed", "--quiet"]
    assert _run(capsys, *argv)[0] == 0
    code, _, err = _run(capsys, *argv, f"--data={store}", "--exclude-moderator", "mallory")
    assert code == 0, err
    registry = ModelRegistry(root)
    seed_only, with_labels = (registry.metadata(v)["data"] for v in registry.versions())
    assert with_labels["recipe"] == "seed"
    assert with_labels["data_files"]["files"] == [{"name": "labels.jsonl", **_sha(store)}]
    assert with_labels["excluded_moderators"] == ["mallory"]
    spam = ("spam", "positive")
    assert _count(with_labels, *spam) == _count(seed_only, *spam) + 30


def _sha(path: Path) -> dict[str, str]:
    import hashlib

    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _count(data: dict, label: str, kind: str) -> int:
    return int(data["label_counts"][label][kind])


def test_a_recipe_names_its_folds_and_block_precision_and_the_command_line_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default recipe cross-validates in 5 folds (its corpus topics are held out whole, so
    each fold's model should still see most of the rest) and blocks at 99.5% precision out of
    fold on at least 300 positives; the seed recipe uses TrainConfig's 3, 98% and no minimum.
    ``--folds``, ``--target-precision`` and ``--block-support`` win over either."""
    from training.recipes import RECIPE_TRAINING

    assert RECIPE_TRAINING["default"] == {
        "folds": 5,
        "target_precision": 0.995,
        "block_support": 300,
    }
    root = tmp_path / "registry"
    argv = ["train", "--registry", str(root), "--recipe", "seed", "--quiet"]
    assert _run(capsys, *argv)[0] == 0
    overrides = ("--folds", "4", "--target-precision", "0.97", "--block-support", "5")
    assert _run(capsys, *argv, *overrides)[0] == 0
    registry = ModelRegistry(root)
    chosen = [
        (t["folds"], t["target_precision"], t["block_support"])
        for t in (registry.metadata(v)["training"] for v in registry.versions())
    ]
    assert chosen == [(3, 0.98, 0), (4, 0.97, 5)]
