"""``chatguard moderate``: what it would send is checked as a worker checks it, so "sent" means
the record can count; an argument that is not UTF-8 is an error, not a traceback."""

from __future__ import annotations

import json

import pytest

from chatguard.cli import main

LABEL = ["moderate", "label", "--print", "--moderator", "m1"]


@pytest.fixture(autouse=True)
def _moderator_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATGUARD_MODERATOR_HMAC_KEY", "k" * 32)


def test_a_label_a_worker_would_take_is_printed_signed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*LABEL, "--text", "hi", "--category", "spam", "e1"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["categories"] == ["spam"] and record["signature"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ([*LABEL, "--text", "hi", "--category", "nonsense", "e1"], "unknown_category"),
        ([*LABEL, "--text", "hi", ""], "'event_id' is empty"),
        ([*LABEL, "--text", "a" * 20_001, "e1"], "oversize_text"),
        ([*LABEL, "--text", "hi", "e" * 300], "oversize_id"),
        ([*LABEL, "--text", "hi", "evt\udcff"], "not valid UTF-8"),  # argv byte 0xff
        (
            [
                "moderate", "confirm", "--print", "--moderator", "m1", "--reporter", "",
                "--event", "e", "--account", "a", "--reason", "spam", "rep1",
            ],
            "'reporter_id' is empty",
        ),
    ],
)  # fmt: skip
def test_what_a_worker_would_refuse_is_refused_before_it_is_sent(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    """It said "sent a signed moderator.label" for labels every worker dead-letters (an unknown
    category, an empty or 300-character id, a 20,001-character text), and an argument that was
    not UTF-8 was a traceback."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and error in err, err
