"""Moderator identity: records from the moderation tool carry an HMAC-SHA256 chatguard checks.

Labels teach the model and decisions confirm reports, so a record on a moderator topic counts only
if it is signed with the key the moderation tool and chatguard share
(``CHATGUARD_MODERATOR_HMAC_KEY`` or ``CHATGUARD_MODERATOR_HMAC_KEY_FILE``). The signature covers
the canonical record: every field but ``signature`` (``type`` included, so a label cannot pass for
a decision), as JSON with sorted keys, no whitespace, UTF-8. Without a key nothing verifies, so an
open broker cannot be used to confirm reports or to poison training.

A rotation accepts a second key (``CHATGUARD_MODERATOR_HMAC_KEY_ACCEPTED`` or ``_FILE``) whose
signatures verify too: the workers accept both, the moderation tool switches to the new key, and
the old one goes once nothing it signed is left unread.

A signature says who wrote a record, not when it was sent, so a record re-sent years later
verifies as well: its signed time bounds a replay (:func:`out_of_time`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import orjson

from chatguard.settings import Settings
from streams.decoding import Rejected
from streams.enforcement import FUTURE_SLACK_S
from streams.shared_keys import SharedKeyError, read_accepted_key, read_shared_key

SIGNATURE_FIELD = "signature"


class ModeratorKeyError(SharedKeyError):
    """The moderator key is configured but cannot be used."""


def moderator_key(settings: Settings) -> bytes | None:
    """The shared key from the setting, or the file it names; None when neither is set."""
    return read_shared_key(
        settings.moderator_hmac_key,
        settings.moderator_hmac_key_file,
        "CHATGUARD_MODERATOR_HMAC_KEY",
        ModeratorKeyError,
    )


def moderator_keys(settings: Settings) -> tuple[bytes, ...]:
    """Every key whose signatures verify: the shared key, then a rotation's accepted one; ``()``
    without a key. An accepted key without a key of its own is refused."""
    key = moderator_key(settings)
    accepted = read_accepted_key(
        settings.moderator_hmac_key_accepted,
        settings.moderator_hmac_key_accepted_file,
        "CHATGUARD_MODERATOR_HMAC_KEY",
        ModeratorKeyError,
        has_key=key is not None,
    )
    return tuple(k for k in (key, accepted) if k is not None)


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the record without its signature, keys sorted, compact."""
    unsigned = {k: v for k, v in record.items() if k != SIGNATURE_FIELD}
    return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)


def signature(record: dict[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical record."""
    return hmac.new(key, canonical(record), hashlib.sha256).hexdigest()


def sign(record: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``record`` with its ``signature`` field set (what the moderation tool sends)."""
    return {**record, SIGNATURE_FIELD: signature(record, key)}


def verified(record: dict[str, Any], keys: bytes | Sequence[bytes] | None) -> bool:
    """True when ``record`` carries a valid signature under one of ``keys`` (a key, the keys of
    ``moderator_keys``; never without one)."""
    claimed = record.get(SIGNATURE_FIELD)
    if not keys or not isinstance(claimed, str):
        return False
    return any(
        hmac.compare_digest(claimed, signature(record, key))
        for key in ((keys,) if isinstance(keys, bytes) else keys)
    )


def out_of_time(
    at: float, now: float, max_age_s: float, *, verb: str, limit: str, event_id: str | None
) -> Rejected | None:
    """Why a signed record of time ``at`` cannot count at ``now``, or None.

    Older than ``max_age_s`` it is a replay or too late (``stale_signal``): without a bound, a
    new or cut-back label store accepted any label ever signed, such as the wrong one a
    moderator later corrected. More than ``FUTURE_SLACK_S`` ahead it is refused too
    (``invalid_value``): it would never grow old, and a label from a clock that ran ahead
    outranked every later correction of its event for good.

    Args:
        verb: what the time says happened (``labelled``, ``decided``), for the message.
        limit: what ``max_age_s`` is called (``the strike window``), for the message.
    """
    if at - now > FUTURE_SLACK_S:
        return Rejected(
            "invalid_value",
            f"{verb} {at - now:.0f} s in the future, more than the {FUTURE_SLACK_S:g} s a "
            "clock may run ahead",
            event_id,
        )
    if now - at > max_age_s:
        return Rejected(
            "stale_signal",
            f"{verb} {now - at:.0f} s ago, beyond {limit} of {max_age_s:g} s: a replay, or too "
            "late to count",
            event_id,
        )
    return None


def label_record(
    key: bytes,
    *,
    event_id: str,
    text: str,
    categories: list[str],
    moderator_id: str,
    at: float,
) -> dict[str, Any]:
    """A signed ``moderator.label``: ``categories`` found in ``text`` (``[]`` = clean)."""
    record = {
        "type": "moderator.label",
        "event_id": event_id,
        "text": text,
        "categories": categories,
        "moderator_id": moderator_id,
        "labelled_at": at,
    }
    return sign(record, key)


def decision_record(
    key: bytes,
    report: dict[str, Any],
    *,
    outcome: str,
    moderator_id: str,
    at: float,
    categories: list[str] | None = None,
) -> dict[str, Any]:
    """A signed ``moderator.decision`` on ``report`` (a user report's fields): confirm or reject."""
    record: dict[str, Any] = {
        "type": "moderator.decision",
        "report_id": report["report_id"],
        "reporter_id": report["reporter_id"],
        "event_id": report["event_id"],
        "account_id": report["account_id"],
        "reason": report["reason"],
        "outcome": outcome,
        "moderator_id": moderator_id,
        "decided_at": at,
    }
    if categories:
        record["categories"] = categories
    return sign(record, key)
