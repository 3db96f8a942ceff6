"""Settings a worker cannot run on are refused at start, naming the variable; every command says
so in one line instead of a traceback."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from chatguard.cli import main as chatguard_main
from chatguard.settings import _POSITIVE, Settings, SettingsError


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # a strike window of 0 dead-lettered every strike (stale) and every seen record
        # (ZeroDivisionError): no account was ever acted on, no report verified, /health green
        ("CHATGUARD_STRIKE_WINDOW_S", "0"),
        ("CHATGUARD_STRIKE_WINDOW_S", "-5"),
        ("CHATGUARD_LABEL_MAX_AGE_S", "0"),  # every label would be refused as too old
        ("CHATGUARD_LABEL_MAX_AGE_S", "nan"),  # no label would ever be too old
        ("CHATGUARD_RESTRICT_STRIKES", "nan"),  # never restricts: nothing compares above NaN
        ("CHATGUARD_SUSPEND_STRIKES", "inf"),
        ("CHATGUARD_CONFIRMED_REPORT_WEIGHT", "nan"),
        ("CHATGUARD_CONFIRMED_REPORT_WEIGHT", "-1"),
        ("CHATGUARD_REVIEW_REPORTS", "0"),
        ("CHATGUARD_MODEL_POLL_S", "0"),
        ("CHATGUARD_LEARN_MIN_ACCOUNTS", "0"),
        ("CHATGUARD_MAX_TEXT_CHARS", "0"),
        ("CHATGUARD_BATCH_WINDOW_S", "nan"),
        ("CHATGUARD_WEB_PORT", "70000"),
        ("CHATGUARD_PARTITION_STALL_S", "0"),  # every partition behind would be "stalled"
        ("CHATGUARD_PARTITION_STALL_S", "1e9"),
    ],
)
def test_a_value_a_worker_cannot_run_on_is_refused_naming_it(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_suspending_needs_at_least_the_strikes_of_restricting() -> None:
    env = {"CHATGUARD_RESTRICT_STRIKES": "5", "CHATGUARD_SUSPEND_STRIKES": "3"}
    with pytest.raises(SettingsError, match=r"SUSPEND_STRIKES=3\.0 must be at least"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "CHATGUARD_SUSPEND_STRIKES": "5"}).suspend_strikes == 5


def test_every_positive_setting_is_a_number_setting() -> None:
    numbers = {f.name for f in dataclasses.fields(Settings) if f.type in ("int", "float")}
    assert set(_POSITIVE) <= numbers
    assert Settings.from_env({}) == Settings()  # the defaults pass


@pytest.mark.parametrize("command", [["classify", "hello"], ["campaigns"], ["tail"]])
def test_a_command_says_which_setting_is_wrong_in_one_line(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATGUARD_BATCH_SIZE", "abc")
    assert chatguard_main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"chatguard {command[0]}: ") and "CHATGUARD_BATCH_SIZE" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_command_says_when_the_broker_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No broker listens on port 1: one line, no traceback, and the consumer closed."""
    monkeypatch.setenv("CHATGUARD_BROKER", "kafka://127.0.0.1:1")
    assert chatguard_main(["tail", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chatguard tail: cannot reach the Kafka broker")
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "empty"])
def test_a_key_file_that_is_no_key_is_one_line_and_never_hangs(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A FIFO named as the moderator key blocked `chatguard moderate` forever; a missing file
    or a directory was a ModeratorKeyError traceback."""
    path = tmp_path / "moderator.key"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "empty":
        path.write_bytes(b"\n")
    monkeypatch.setenv("CHATGUARD_MODERATOR_HMAC_KEY_FILE", str(path))
    command = ["moderate", "confirm", "r1", "--reporter", "u1", "--event", "e1"]
    command += ["--account", "a1", "--reason", "fraud", "--moderator", "m1"]
    assert chatguard_main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chatguard moderate: ") and "CHATGUARD_MODERATOR_HMAC_KEY_FILE" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
