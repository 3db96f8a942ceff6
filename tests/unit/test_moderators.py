"""Moderator records count only with a valid HMAC-SHA256 under the shared key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatguard.settings import Settings
from streams.moderators import (
    ModeratorKeyError,
    decision_record,
    label_record,
    moderator_key,
    moderator_keys,
    out_of_time,
    sign,
    verified,
)

KEY = b"shared-secret"


def label() -> dict[str, object]:
    return label_record(
        KEY, event_id="e1", text="加微信领红包", categories=["fraud"], moderator_id="m1", at=1.5
    )


def test_a_signed_record_verifies_and_any_change_breaks_it() -> None:
    record = label()
    assert verified(record, KEY)
    assert not verified({**record, "categories": []}, KEY)
    assert not verified({**record, "moderator_id": "m2"}, KEY)
    assert not verified({**record, "type": "moderator.decision"}, KEY)
    assert not verified(record, b"another key")
    assert not verified(record, None)  # no key configured: nothing is trusted
    unsigned = {k: v for k, v in record.items() if k != "signature"}
    assert not verified(unsigned, KEY)
    assert not verified({**record, "signature": 12}, KEY)


def test_the_signature_does_not_depend_on_field_order() -> None:
    record = label()
    reordered = dict(reversed(list(record.items())))
    assert verified(reordered, KEY)


def test_a_decision_signs_the_report_it_decides() -> None:
    report = {
        "report_id": "r1",
        "reporter_id": "u1",
        "event_id": "e1",
        "account_id": "a1",
        "reason": "spam",
    }
    record = decision_record(KEY, report, outcome="confirm", moderator_id="m1", at=2.0)
    assert verified(record, KEY) and record["outcome"] == "confirm"
    assert not verified({**record, "outcome": "reject"}, KEY)
    assert not verified({**record, "account_id": "a2"}, KEY)
    assert sign(record, KEY)["signature"] == record["signature"]


@pytest.mark.parametrize(
    ("offset", "kind"),
    [
        (0.0, None),
        (-604_800.0 + 1, None),  # just within the limit
        (-604_800.0 - 1, "stale_signal"),  # a replay, or too late to count
        (-90 * 86_400.0, "stale_signal"),
        (299.0, None),  # a clock a little ahead
        (301.0, "invalid_value"),  # past the slack: would never grow old
        (10 * 365 * 86_400.0, "invalid_value"),
    ],
)
def test_a_signed_time_counts_within_its_age_limit_and_never_ahead(
    offset: float, kind: str | None
) -> None:
    now = 1_800_000_000.0
    refused = out_of_time(
        now + offset, now, 604_800.0, verb="labelled", limit="the limit", event_id="e1"
    )
    assert (refused.kind if refused is not None else None) == kind
    if refused is not None:
        assert refused.event_id == "e1" and refused.error.startswith("labelled ")


def test_the_key_comes_from_the_setting_or_a_file(tmp_path: Path) -> None:
    assert moderator_key(Settings()) is None
    assert moderator_key(Settings(moderator_hmac_key="abc")) == b"abc"
    path = tmp_path / "key"
    path.write_bytes(b"from-file\n")
    assert moderator_key(Settings(moderator_hmac_key_file=str(path))) == b"from-file"
    path.write_bytes(b"\n")
    with pytest.raises(ModeratorKeyError, match="empty"):
        moderator_key(Settings(moderator_hmac_key_file=str(path)))
    with pytest.raises(ModeratorKeyError, match="cannot read"):
        moderator_key(Settings(moderator_hmac_key_file=str(tmp_path / "missing")))


def test_the_key_is_not_in_the_settings_repr() -> None:
    assert "abc-secret" not in repr(Settings(moderator_hmac_key="abc-secret"))


def test_while_the_tool_rotates_its_key_both_keys_verify_and_no_other() -> None:
    """Workers accept the old and the new key; the tool switches; the old key goes."""
    old, new = b"old tool key", b"new tool key"
    by_old, by_new = sign(label(), old), sign(label(), new)
    rotating = moderator_keys(
        Settings(moderator_hmac_key=old.decode(), moderator_hmac_key_accepted=new.decode())
    )
    assert rotating == (old, new)
    assert verified(by_old, rotating) and verified(by_new, rotating)
    assert not verified(sign(label(), b"guessed"), rotating)
    after = moderator_keys(Settings(moderator_hmac_key=new.decode()))
    assert verified(by_new, after) and not verified(by_old, after)
    assert moderator_keys(Settings()) == ()
    assert not verified(by_old, ())


def test_an_accepted_moderator_key_comes_from_its_file_and_needs_a_key(tmp_path: Path) -> None:
    path = tmp_path / "new.key"
    path.write_bytes(b"new from a file\n")
    keys = moderator_keys(
        Settings(moderator_hmac_key="k", moderator_hmac_key_accepted_file=str(path))
    )
    assert keys == (b"k", b"new from a file")
    with pytest.raises(ModeratorKeyError, match="without CHATGUARD_MODERATOR_HMAC_KEY"):
        moderator_keys(Settings(moderator_hmac_key_accepted="new"))
    assert "new-secret" not in repr(Settings(moderator_hmac_key_accepted="new-secret"))
