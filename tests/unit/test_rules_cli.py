"""``chatguard rules`` against a rules topic full of forgeries, and hostile rules files: only
verified records are history, and a file that could blow up or hide an edit is refused."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chatguard.cli import main as chatguard_main
from models.rules import RulesError, load_rules
from models.signing import sign_payload
from streams import learned_list, rules_holder
from streams.rules_dry_run import read_rows
from streams.rules_holder import PublishedRules, signed_payload
from tests.conftest import ModelKeys

ALLOW_ALL = (
    "version: {version}\n"
    "rules: [{{id: allow-all, category: spam, match: {{regex: '.'}}, effect: allow}}]\n"
)


def _legit(version: str) -> str:
    return (
        f"version: {version}\n"
        "rules: [{id: probe, category: spam, match: {terms: [zzprobeword]}, effect: block}]\n"
    )


def _signed(
    offset: int, text: str, at: float, key: Ed25519PrivateKey, *, by: str | None = "admin@ops"
) -> PublishedRules:
    """A record as ``chatguard rules publish`` writes it, signed at ``at`` by ``by`` (None:
    the earlier form, whose signature did not cover the publisher's name)."""
    version = load_rules(text).version
    sha = hashlib.sha256(text.encode()).hexdigest()
    signature = sign_payload(signed_payload(version, sha, at, by), key)
    return PublishedRules(offset, version, text, sha, at, by or "admin@ops", signature)


def _forged(offset: int, version: str, text: str) -> PublishedRules:
    """An unsigned record written straight to the topic, claiming a time after everything."""
    return PublishedRules(offset, version, text, "", time.time() + 1e6, "admin@prod", None)


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> tuple[list[PublishedRules], list[str]]:
    """The rules topic's records (filled by the test) and the texts the command publishes."""
    history: list[PublishedRules] = []
    published: list[str] = []

    async def read_history(
        settings: object, keep: Callable[[PublishedRules], bool] | None = None
    ) -> tuple[list[PublishedRules], int]:
        return [r for r in history if keep is None or keep(r)], len(history)

    async def publish(settings: object, text: str, key: object = None, *_: object) -> object:
        published.append(text)
        return load_rules(text)

    async def read_learned(settings: object) -> list[object]:
        return []

    monkeypatch.setattr(rules_holder, "read_history", read_history)
    monkeypatch.setattr(rules_holder, "publish", publish)
    monkeypatch.setattr(learned_list, "read_learned", read_learned)
    return history, published


def _no_public_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The public key not where the settings say (its default path is relative to the cwd)."""
    monkeypatch.setenv("CHATGUARD_MODEL_PUBLIC_KEY", str(tmp_path / "missing.pub"))


@pytest.mark.parametrize("public_key", [True, False])
def test_rollback_never_signs_an_unsigned_record(
    topic: tuple[list[PublishedRules], list[str]],
    model_keys: ModelKeys,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    public_key: bool,
) -> None:
    """Forged records, one under a new version and one under an earlier genuine version's
    name: rollback returns to the genuine earlier text. Without the public key file the
    signing key's own public half verifies (rollback once signed the forger's allow-all)."""
    history, published = topic
    key = model_keys.private_key
    history += [
        _signed(0, _legit("legit-0"), 100.0, key),
        _forged(1, "forged-allow-1", ALLOW_ALL.format(version="forged-allow-1")),
        _signed(2, _legit("legit-1"), 200.0, key),
        _forged(3, "legit-0", ALLOW_ALL.format(version="legit-0")),
    ]
    if not public_key:
        _no_public_key(monkeypatch, tmp_path)
    assert chatguard_main(["rules", "rollback"]) == 0
    assert published == [_legit("legit-0")]


def test_show_says_plainly_when_it_cannot_verify(
    topic: tuple[list[PublishedRules], list[str]],
    model_keys: ModelKeys,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    history, _ = topic
    history += [
        _signed(0, _legit("legit-1"), 100.0, model_keys.private_key),
        _forged(1, "forged-allow-1", ALLOW_ALL.format(version="forged-allow-1")),
    ]
    # the public key is not here, the signing key is: its public half verifies
    _no_public_key(monkeypatch, tmp_path)
    assert chatguard_main(["rules", "show"]) == 0
    out = capsys.readouterr().out
    assert "serving rules legit-1" in out and "forged" not in out
    assert "ignored 1 record(s) that are unsigned" in out
    # neither key: the forgery may be shown, but never as what workers serve
    monkeypatch.setenv("CHATGUARD_MODEL_SIGNING_KEY", str(tmp_path / "missing.key"))
    assert chatguard_main(["rules", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("UNVERIFIED: no public key at")
    assert "serving rules" not in out
    assert "newest record (UNVERIFIED, maybe not served): rules forged-allow-1" in out


def test_the_publishers_name_is_signed_and_a_rewritten_one_is_refused(
    topic: tuple[list[PublishedRules], list[str]],
    model_keys: ModelKeys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The name was outside the signature: a genuine record re-sent under another publisher's
    name showed that name. Now a rewritten name breaks the signature; a record signed in the
    earlier form still verifies, its name marked as unsigned."""
    history, _ = topic
    key = model_keys.private_key
    genuine = _signed(0, _legit("legit-1"), 100.0, key)
    history += [genuine, dataclasses.replace(genuine, offset=1, published_at=300.0)]
    history.append(dataclasses.replace(genuine, offset=2, published_by="\x1b[31mceo@corp"))
    assert chatguard_main(["rules", "show"]) == 0
    out = capsys.readouterr().out
    assert "ignored 2 record(s) that are unsigned" in out
    assert "serving rules legit-1, published 1970-01-01T00:01:40+00:00 by admin@ops\n" in out
    history.append(_signed(3, _legit("legit-2"), 200.0, key, by=None))
    history.append(dataclasses.replace(history[-1], offset=4, published_by="\x1b[31mceo@corp"))
    assert chatguard_main(["rules", "show"]) == 0
    out = capsys.readouterr().out
    assert "serving rules legit-2" in out and "\x1b" not in out
    assert "by \\x1b[31mceo@corp (a name its signature does not cover" in out


def test_an_unsigned_record_cannot_squat_the_version_about_to_be_published(
    topic: tuple[list[PublishedRules], list[str]], tmp_path: Path
) -> None:
    history, published = topic
    history.append(PublishedRules(0, "legit-3", "junk", "0" * 64, 0.0, "nobody", None))
    (tmp_path / "legit3.yaml").write_text(_legit("legit-3"))
    assert chatguard_main(["rules", "publish", str(tmp_path / "legit3.yaml")]) == 0
    assert published == [_legit("legit-3")]


def test_a_signed_record_of_the_version_with_other_content_still_clashes(
    topic: tuple[list[PublishedRules], list[str]],
    model_keys: ModelKeys,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    history, published = topic
    history.append(_signed(0, _legit("legit-3") + "# other\n", 100.0, model_keys.private_key))
    (tmp_path / "legit3.yaml").write_text(_legit("legit-3"))
    assert chatguard_main(["rules", "publish", str(tmp_path / "legit3.yaml")]) == 1
    assert "was published with other content" in capsys.readouterr().err
    assert published == []


def test_pin_edits_the_verified_rules_never_a_forgery(
    topic: tuple[list[PublishedRules], list[str]],
    model_keys: ModelKeys,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    history, published = topic
    history += [
        _signed(0, _legit("legit-1"), 100.0, model_keys.private_key),
        _forged(1, "forged-allow-1", ALLOW_ALL.format(version="forged-allow-1")),
    ]
    _no_public_key(monkeypatch, tmp_path)
    assert chatguard_main(["rules", "pin", "evil-pay.top"]) == 0
    (text,) = published
    pinned = load_rules(text)
    assert pinned.version.startswith("legit-1+pin.evil-pay.top.")
    assert [rule.id for rule in pinned.rules] == ["probe"] and pinned.pinned == ("evil-pay.top",)


# -- hostile rules files -----------------------------------------------------------------------------
def _alias_bomb(levels: int) -> str:
    lines = ['version: "bomb-1"', "rules:", "  - id: r1", "    category: spam"]
    lines += ["    match: {terms: [hello]}", "    effect:", '      - &b0 ["lol","lol","lol"]']
    lines += [f"      - &b{i} [{','.join([f'*b{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_aliases_are_refused_before_anything_expands() -> None:
    """A 600-byte alias bomb grew the CLI to 3 GB; the same parser serves workers, which
    now refuse aliases too (after checking the signature, as before)."""
    with pytest.raises(RulesError) as refused:
        load_rules(_alias_bomb(7))  # 3 x 9^6 strings if expanded
    assert "alias" in str(refused.value) and len(str(refused.value)) < 500
    shared = "version: v\nlists: {a: &x [foo]}\nrules:\n  - {id: r, category: spam, "
    with pytest.raises(RulesError, match="aliases are not allowed"):
        load_rules(shared + "match: {terms: *x}, effect: block}\n")
    with pytest.raises(RulesError, match="merge keys"):
        load_rules("version: v\nrules:\n  - <<: {id: r}\n    category: spam\n")


def test_an_error_quotes_a_refused_value_in_a_few_lines_never_whole() -> None:
    effect = "[" + ", ".join(f"[{', '.join(['lol'] * 1000)}]" for _ in range(100)) + "]"
    text = f"version: v\nrules:\n  - {{id: r, category: spam, match: {{terms: [a]}}, effect: {effect}}}\n"
    with pytest.raises(RulesError, match="effect") as refused:
        load_rules(text)
    assert len(str(refused.value)) < 1_000


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('version: "dup"\nversion: "dup2"\nrules: []\n', "version", 2),
        (
            "version: v\nrules:\n  - id: a\n    id: b\n    category: spam\n"
            "    match: {terms: [x]}\n    effect: block\n",
            "id",
            4,
        ),
        ("version: v\nrules: []\nlearned: {pin: [a.com], pin: [b.com]}\n", "pin", 3),
        # written differently, loaded as one key: the later would replace the earlier
        ("version: v\nrules: []\nx:\n  true: 1\n  True: 2\n", "True", 5),
        ("version: v\nrules: []\nx: {1: a, 0x1: b}\n", "0x1", 3),
        ("version: v\nrules: []\nx: {1: a, 1.0: b}\n", "1.0", 3),
        ("version: v\nrules: []\nx: {~: a, null: b}\n", "null", 3),
    ],
)
def test_a_key_given_twice_is_refused_naming_it(text: str, key: str, line: int) -> None:
    with pytest.raises(RulesError) as refused:
        load_rules(text, name="dup.yaml")
    message = str(refused.value)
    assert f"key '{key}' appears twice" in message and f"line {line}," in message
    assert message.startswith("dup.yaml: ")


@pytest.mark.parametrize(
    "scalar",
    ["9" * 5_000, "2001-13-45", "2026-02-30"],
)
@pytest.mark.parametrize("place", ["value", "key"])
def test_a_scalar_python_cannot_hold_is_a_rules_error(scalar: str, place: str) -> None:
    """YAML reads these, Python refuses them with a ValueError: still an error naming the file."""
    text = (
        f"version: v\nrules: []\nx: {scalar}\n"
        if place == "value"
        else f"version: v\nrules: []\nx:\n  ? {scalar}\n  : 1\n"  # a key of any length
    )
    with pytest.raises(RulesError, match=r"^big\.yaml: not valid YAML: a value cannot be loaded"):
        load_rules(text, name="big.yaml")


def test_a_rules_file_that_is_not_utf8_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "badutf8.yaml"
    path.write_bytes(b'version: "u1"\nrules:\n  - {id: a, match: {terms: ["\xff\xfe"]}}\n')
    for command in (["show", "--file"], ["publish"]):
        assert chatguard_main(["rules", *command, str(path)]) == 1
        assert f"{path}: not UTF-8 text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (b'{"text": "hi", "categories": "spam"}', "'categories' must be a list of strings"),
        (b'{"text": "hi", "categories": [["x"]]}', "'categories' must be a list of strings"),
        (b'{"text": "\xff"}', "not UTF-8 text"),
    ],
)
def test_rules_test_refuses_a_row_whose_categories_are_not_a_list(
    tmp_path: Path, row: bytes, expected: str
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_bytes(row + b"\n")
    with pytest.raises(ValueError, match=expected) as refused:
        read_rows(data)
    assert str(data) in str(refused.value)
