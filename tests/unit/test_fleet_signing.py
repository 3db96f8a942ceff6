"""Fleet signatures on internal records: what is signed, and every way a forgery is refused."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from chatguard.settings import Settings
from streams.fleet_signing import (
    HEADER,
    FleetKeyError,
    FleetSigner,
    mac,
    mac_key,
    read_accepted_fleet_key,
    read_fleet_key,
)
from streams.pipeline import Outgoing, RawMessage

STRIKES, SEEN, DECISIONS = "p.account.strikes", "p.events.by_id", "p.moderation.decisions"
SIGNER = FleetSigner(b"fleet key", [STRIKES, SEEN])


def _read(record: Outgoing, topic: str | None = None) -> RawMessage:
    """``record`` as a worker reads it back, from ``topic`` if it was copied elsewhere."""
    return RawMessage(topic or record.topic, 0, 7, record.key, record.value, record.headers)


def test_records_for_internal_topics_are_signed_and_verify() -> None:
    strike = Outgoing(STRIKES, b"acct-1", b'{"kind":"block"}')
    decision = Outgoing(DECISIONS, b"ev-1", b'{"decision":"allow"}')
    signed_strike, signed_decision = SIGNER.signed([strike, decision])
    assert [name for name, _ in signed_strike.headers] == [HEADER]
    assert signed_decision == decision  # a public topic: nothing to sign
    assert SIGNER.check(_read(signed_strike)) is None


@pytest.mark.parametrize(
    ("forge", "problem"),
    [
        (lambda r: RawMessage(r.topic, 0, 7, r.key, r.value), "no fleet signature"),
        (lambda r: RawMessage(r.topic, 0, 7, b"acct-2", r.value, r.headers), "does not match"),
        (lambda r: RawMessage(r.topic, 0, 7, r.key, b'{"kind":"x"}', r.headers), "does not match"),
        (lambda r: RawMessage(SEEN, 0, 7, r.key, r.value, r.headers), "does not match"),
        (lambda r: RawMessage(r.topic, 0, 7, r.key, r.value, r.headers * 2), "no fleet signature"),
        (
            lambda r: RawMessage(r.topic, 0, 7, r.key, r.value, ((HEADER, b"\0" * 32),)),
            "does not match",
        ),
    ],
    ids=["unsigned", "other key", "other value", "replayed on another topic", "twice", "zeros"],
)
def test_a_forged_or_altered_record_is_refused(forge: object, problem: str) -> None:
    [signed] = SIGNER.signed([Outgoing(STRIKES, b"acct-1", b'{"kind":"block"}')])
    rejected = SIGNER.check(forge(signed))  # type: ignore[operator]
    assert rejected is not None and rejected.kind == "unsigned"
    assert problem in rejected.error


def test_a_record_signed_with_another_key_is_refused() -> None:
    [signed] = FleetSigner(b"guessed", [STRIKES]).signed([Outgoing(STRIKES, b"a", b"{}")])
    rejected = SIGNER.check(_read(signed))
    assert rejected is not None and "does not match" in rejected.error


def test_a_missing_key_or_value_is_not_an_empty_one() -> None:
    key = mac_key(b"k")
    assert mac(key, STRIKES, None, b"v") != mac(key, STRIKES, b"", b"v")
    assert mac(key, STRIKES, b"ab", b"c") != mac(key, STRIKES, b"a", b"bc")


def test_without_a_key_nothing_is_signed_or_checked() -> None:
    signer = FleetSigner(None, [STRIKES])
    record = Outgoing(STRIKES, b"acct-1", b"{}")
    assert signer.signed([record]) == [record]
    assert signer.check(_read(record)) is None
    assert not signer.on


def test_the_key_comes_from_the_setting_or_the_file_it_names(tmp_path: Path) -> None:
    assert read_fleet_key(Settings()) is None
    assert read_fleet_key(Settings(fleet_key="abc")) == b"abc"
    path = tmp_path / "fleet.key"
    path.write_bytes(b"from a file\n")
    assert read_fleet_key(Settings(fleet_key_file=str(path))) == b"from a file"
    path.write_bytes(b"\n")
    with pytest.raises(FleetKeyError, match="empty"):
        read_fleet_key(Settings(fleet_key_file=str(path)))
    with pytest.raises(FleetKeyError, match="cannot read"):
        read_fleet_key(Settings(fleet_key_file=str(tmp_path / "missing")))


def test_a_worker_signs_for_every_internal_topic_under_its_prefix() -> None:
    settings = Settings(topic_prefix="fleet-a.", fleet_key="k")
    signer = FleetSigner.for_settings(settings)
    assert settings.topic("account.strikes") in signer.internal_topics
    assert settings.topic("moderation.decisions") not in signer.internal_topics


def _strike_by(signer: FleetSigner) -> RawMessage:
    [signed] = signer.signed([Outgoing(STRIKES, b"acct-1", b'{"kind":"block"}')])
    return _read(signed)


def test_the_accepted_key_verifies_but_never_signs() -> None:
    rotating = FleetSigner(b"new", [STRIKES], accepted=b"old")
    assert rotating.check(_strike_by(FleetSigner(b"old", [STRIKES]))) is None
    assert rotating.check(_strike_by(FleetSigner(b"new", [STRIKES]))) is None
    guessed = rotating.check(_strike_by(FleetSigner(b"guessed", [STRIKES])))
    assert guessed is not None and "does not match" in guessed.error
    # what it writes verifies with the new key alone, not with the old one
    assert FleetSigner(b"new", [STRIKES]).check(_strike_by(rotating)) is None
    assert FleetSigner(b"old", [STRIKES]).check(_strike_by(rotating)) is not None


def test_a_rotation_in_two_rolling_restarts_never_refuses_a_record_of_the_fleet() -> None:
    """Old key; old key accepting the new one; new key accepting the old one; new key. A rolling
    restart has workers of two neighbouring steps side by side, each reading the other."""
    steps = [
        FleetSigner(b"old", [STRIKES]),
        FleetSigner(b"old", [STRIKES], accepted=b"new"),
        FleetSigner(b"new", [STRIKES], accepted=b"old"),
        FleetSigner(b"new", [STRIKES]),
    ]
    for before, after in pairwise(steps):
        assert before.check(_strike_by(after)) is None
        assert after.check(_strike_by(before)) is None
    # skipping the first restart is what loses records: a worker on the old key alone refuses
    assert steps[0].check(_strike_by(steps[2])) is not None


def test_the_accepted_key_comes_from_the_setting_or_its_file_and_needs_a_fleet_key(
    tmp_path: Path,
) -> None:
    assert read_accepted_fleet_key(Settings(fleet_key="k")) is None
    assert read_accepted_fleet_key(Settings(fleet_key="k", fleet_key_accepted="old")) == b"old"
    path = tmp_path / "old.key"
    path.write_bytes(b"old from a file\n")
    accepted = Settings(fleet_key="k", fleet_key_accepted_file=str(path))
    assert read_accepted_fleet_key(accepted) == b"old from a file"
    assert FleetSigner.for_settings(accepted).accepted == mac_key(b"old from a file")
    with pytest.raises(FleetKeyError, match="without CHATGUARD_FLEET_KEY"):
        read_accepted_fleet_key(Settings(fleet_key_accepted="old"))


@pytest.mark.parametrize(
    "env",
    [
        {"CHATGUARD_FLEET_KEY_ACCEPTED": "old"},  # an accepted key without a key of its own
        {"CHATGUARD_FLEET_KEY_FILE": "/nonexistent/fleet.key"},
    ],
    ids=["accepted-alone", "missing-file"],
)
def test_a_campaign_fold_with_a_fleet_key_it_cannot_use_says_so_and_exits_2(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams import fold_process

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert fold_process.main() == 2
    error = capsys.readouterr().err
    assert error.startswith("chatguard campaign fold: ") and "CHATGUARD_FLEET_KEY" in error
    assert "Traceback" not in error
