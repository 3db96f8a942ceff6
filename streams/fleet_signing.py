"""Fleet signatures: the workers' own records on internal topics carry a MAC the workers check.

Internal topics (``topics.INTERNAL``: strike signals, weighed reports, seen events, retried
reports, blocked contacts, campaign fingerprints and members, sender activity) are written and
read only by the fleet, and what they carry acts: a strike signal counts toward an account's
suspension, a blocked-contact record teaches the fleet a contact to block. Validation keeps
their shape honest but cannot tell a worker's record from a forged one; ACLs can, where the
broker has them. With a key shared by the fleet (``CHATGUARD_FLEET_KEY`` or
``CHATGUARD_FLEET_KEY_FILE``) every record a worker writes to an internal topic carries the
header :data:`HEADER`, a MAC (keyed BLAKE2b) over the topic, the key and the value, and a worker reads
a record there only if that header verifies: anything else is a dead letter ``unsigned``, so a
forged record counts for nothing even on an open broker. The topic is signed with the record, so
a record signed for one internal topic cannot be replayed onto another.

Campaign announcements (``moderation.campaigns``) are signed the same way: a harmful campaign
blocks every later near-duplicate of its texts, and band keys are public (anyone with the code
computes those of any text), so a forged one could block any message. So are learned contacts
(``moderation.learned``): a forged one would block every message naming a contact token.

Without a key nothing is signed or checked (the behaviour before signatures existed).

Rotation loses nothing when it goes in two rolling restarts: first every worker keeps signing
with the old key and also accepts the new one (``CHATGUARD_FLEET_KEY_ACCEPTED``), then every
worker signs with the new key and still accepts the old one; the accepted key can go once the
records the old key signed are read (their retention).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from chatguard.settings import Settings
from streams import topics
from streams.decoding import Rejected, too_many_containers
from streams.shared_keys import SharedKeyError, read_accepted_key, read_shared_key

if TYPE_CHECKING:
    from streams.pipeline import Outgoing, RawMessage  # the pipeline signs with this: no cycle

HEADER = "chatguard-fleet-mac"


class FleetKeyError(SharedKeyError):
    """The fleet key is configured but cannot be used."""


def read_fleet_key(settings: Settings) -> bytes | None:
    """The fleet's shared key from the setting, or the file it names; None when neither is set."""
    return read_shared_key(
        settings.fleet_key,
        settings.fleet_key_file,
        "CHATGUARD_FLEET_KEY",
        FleetKeyError,
    )


def read_accepted_fleet_key(settings: Settings) -> bytes | None:
    """The second key a rotation accepts signatures of (``CHATGUARD_FLEET_KEY_ACCEPTED`` or
    ``_FILE``); None when neither is set. Refused without a fleet key of its own: a worker that
    signs nothing checks nothing."""
    return read_accepted_key(
        settings.fleet_key_accepted,
        settings.fleet_key_accepted_file,
        "CHATGUARD_FLEET_KEY",
        FleetKeyError,
        has_key=read_fleet_key(settings) is not None,
    )


def mac_key(secret: bytes) -> bytes:
    """The 32-byte BLAKE2b key derived from the fleet's secret (which may be any length)."""
    return hashlib.blake2b(secret, digest_size=32, person=b"chatguard-fleet").digest()


def mac(key32: bytes, topic: str, key: bytes | None, value: bytes | None) -> bytes:
    """Keyed BLAKE2b-256 (a MAC, twice as fast as HMAC-SHA256 on records this size) over the
    topic, the key and the value, each length-prefixed (a missing key or value differs from an
    empty one), so no two different records share the signed bytes."""
    signed = b"".join(
        _MISSING if part is None else len(part).to_bytes(8, "big") + part
        for part in (topic.encode(), key, value)
    )
    return hashlib.blake2b(signed, key=key32, digest_size=32).digest()


_MISSING = b"\xff" * 8  # no length: a key or value that is None


class FleetSigner:
    """Signs the records a worker writes to internal topics and checks those it reads there."""

    def __init__(
        self,
        secret: bytes | None,
        internal_topics: Iterable[str],
        accepted: bytes | None = None,
    ) -> None:
        self.secret = mac_key(secret) if secret is not None else None
        self.internal_topics = frozenset(internal_topics)
        # a rotation's other key: its signatures verify, it never signs
        self.accepted = mac_key(accepted) if accepted is not None and secret is not None else None

    @classmethod
    def for_settings(cls, settings: Settings) -> FleetSigner:
        return cls(
            read_fleet_key(settings),
            (settings.topic(name) for name in topics.SIGNED),
            read_accepted_fleet_key(settings),
        )

    @property
    def on(self) -> bool:
        return self.secret is not None

    def signed(self, records: Sequence[Outgoing]) -> Sequence[Outgoing]:
        """``records``, those for internal topics with their signature header."""
        secret = self.secret
        if secret is None:
            return records
        internal = self.internal_topics
        return [
            type(record)(  # not dataclasses.replace: this runs for every internal record
                record.topic,
                record.key,
                record.value,
                record.source,
                ((HEADER, mac(secret, record.topic, record.key, record.value)),),
            )
            if record.topic in internal
            else record
            for record in records
        ]

    def check(self, raw: RawMessage) -> Rejected | None:
        """Why ``raw``, read from an internal topic, is refused: no valid fleet signature."""
        problem = self.problem(raw.topic, raw.key, raw.value, raw.headers)
        return None if problem is None else Rejected("unsigned", problem)

    def problem(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] | None,
    ) -> str | None:
        """What is wrong with a record's signature; None if it verifies, or nothing is checked."""
        secret = self.secret
        if secret is None:
            return None
        claimed = [value for name, value in headers or () if name == HEADER]
        if len(claimed) != 1 or not isinstance(claimed[0], bytes):
            return "no fleet signature: not written by a worker of this fleet"
        if hmac.compare_digest(claimed[0], mac(secret, topic, key, value)):
            return None
        accepted = self.accepted
        if accepted is not None and hmac.compare_digest(
            claimed[0], mac(accepted, topic, key, value)
        ):
            return None
        return "the fleet signature does not match the record"


def internal_record(raw: RawMessage, signer: FleetSigner) -> dict[str, Any] | Rejected:
    """A record of an internal topic (written by this app, but writable by anyone with access),
    or why it is not one: not signed by the fleet (when it has a key), or not a JSON object."""
    unsigned = signer.check(raw)
    if unsigned is not None:
        return unsigned
    crowded = too_many_containers(raw.value or b"")
    if crowded is not None:
        return crowded
    try:
        record = orjson.loads(raw.value or b"")
    except orjson.JSONDecodeError as exc:
        return Rejected("malformed_json", f"not valid JSON: {exc}")
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return Rejected("not_an_object", "expected a JSON object with a string 'kind'")
    return record
