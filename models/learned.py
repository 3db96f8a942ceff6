"""Lists learned from enforcement: contact tokens (domains, phone numbers, WeChat and QQ IDs) seen
in blocked messages from several accounts are blocked on sight for a while. Pure: no Kafka.

A spammer rotates wording faster than a model is retrained, but the contact he wants victims to
reach (a domain, a phone number, a WeChat ID) is what he is paid for and changes more slowly.
When a token appears in at least ``min_events`` blocked events from at least ``min_accounts``
distinct accounts within ``window_s``, it becomes a :class:`LearnedEntry` that blocks every
message carrying it, even in new words, until it expires ``ttl_s`` later. Requiring several
accounts keeps one user who pastes a link into blocked messages from blocking that link for
everyone. Only blocks that did not come from the learned list itself count as evidence, so an
entry cannot keep itself alive: it lapses ``ttl_s`` after the last spam wave the model or a
rule caught.

A domain is learned and matched down to the part someone registered, never a public suffix
(the Public Suffix List: ``co.uk``, ``com.cn``, and suffixes such as ``github.io`` where
strangers each own a name): three accounts' spam naming ``bbc.co.uk`` and ``evil.co.uk`` taught
``co.uk``, which then blocked every message naming any ``.co.uk`` site.

Nor is a token learned that stands for everyone rather than for a spammer: three accounts' spam
naming a real bank's domain beside its own link taught the fleet to block every customer who
named the bank for a day. The domains of ``never_learned.txt`` (banks, payment and courier
services, platforms, public bodies) and their subdomains are never a token.

Moderators steer it through the signed rules file (``models.rules``): ``learned: {pin: [...]}``
blocks a token for as long as it is pinned, ``learned: {remove: [...]}`` stops a token from
firing, learned or not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeGuard

from models.contact_folding import has_known_suffix, is_public_suffix, phone_key
from models.rules import MAX_HOST_LABELS, Contacts
from models.taxonomy import TAXONOMY

# the kinds of contact token that are learned; URLs are covered by their host
KINDS = ("domains", "phones", "wechat", "qq")
LEARNED_CATEGORY = "fraud"
# what a token may look like: a host name, or digits, or a WeChat ID (anything else is refused)
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_.\-]{3,252}$")


@dataclass(frozen=True, slots=True)
class LearnedEntry:
    """A contact token that blocks until ``expires_at`` (``None``: pinned, never expires)."""

    token: str
    kind: str
    category: str
    learned_at: float
    expires_at: float | None
    events: int = 0
    accounts: int = 0

    def reason(self) -> str:
        return f"learned:{self.token}"


def valid_token(token: object) -> TypeGuard[str]:
    return isinstance(token, str) and _TOKEN.match(token) is not None


NEVER_LEARNED = Path(__file__).with_name("never_learned.txt")


@cache
def never_learned() -> frozenset[str]:
    """The domains of ``never_learned.txt``: banks, couriers, platforms, public bodies."""
    lines = NEVER_LEARNED.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def preload() -> None:
    """Read the lists a learnable check reads at first use (``never_learned.txt``, the public
    suffixes) now: at first use, with no file descriptor left, a whole batch failed."""
    never_learned()
    is_public_suffix("com")


def well_known(host: str) -> bool:
    """``host`` is, or is under, a domain of ``never_learned.txt``."""
    known = never_learned()
    labels = host.split(".")
    return any(".".join(labels[i:]) in known for i in range(len(labels) - 1))


def learnable(kind: str, token: object) -> bool:
    """A well-formed token that may stand for one party, and not for everyone: a domain under a
    real public suffix (655 of 80,644 innocent texts named a "domain" like ``i.ll`` or
    ``index.html``), not a public suffix itself, nor a bank's, courier's or platform's domain
    that scams name beside their own."""
    if not valid_token(token):
        return False
    return kind != "domains" or (
        has_known_suffix(token) and not is_public_suffix(token) and not well_known(token)
    )


# contact tokens one event is evidence for: a scam names a few; a 20,000-character message can
# name 2,500 phone numbers, each of which would be a ``contacts.blocked`` record and a table write
TOKENS_PER_EVENT = 16


def tokens_of(contacts: Contacts) -> list[tuple[str, str]]:
    """``(kind, token)`` pairs that a blocked event is evidence for (the first
    ``TOKENS_PER_EVENT``); a phone number as its key (``models.contact_folding.phone_key``), so
    its national and international forms count as one."""
    pairs = [("domains", host) for host in sorted(contacts.hosts)]
    pairs += [("phones", phone) for phone in sorted({phone_key(p) for p in contacts.phones})]
    pairs += [("wechat", wechat) for wechat in sorted(contacts.wechat)]
    pairs += [("qq", qq) for qq in sorted(contacts.qq)]
    return [(kind, token) for kind, token in pairs if learnable(kind, token)][:TOKENS_PER_EVENT]


def candidates(contacts: Contacts) -> set[str]:
    """Every token an entry may be listed under for these contacts: each host and its parent
    domains down to the registered one (an entry for ``evil.top`` blocks ``pay.evil.top``; none
    for ``co.uk`` blocks ``bbc.co.uk``), phones (as written, for entries learned before phone
    keys, and as keys), WeChat and QQ IDs."""
    found: set[str] = set()
    for host in contacts.hosts | contacts.loose_hosts:
        labels = host.split(".")[-MAX_HOST_LABELS:]
        for i in range(len(labels) - 1):
            parent = ".".join(labels[i:])
            if is_public_suffix(parent):
                break
            found.add(parent)
    found.update(contacts.phones, map(phone_key, contacts.phones), contacts.wechat, contacts.qq)
    return found


# -- counting evidence (one token's state in the fleet-wide table) --------------------------------------
def observe(
    state: Mapping[str, Any],
    account: str,
    at: float,
    *,
    window_s: float,
    min_events: int,
    min_accounts: int,
    event_id: str = "",
) -> tuple[dict[str, Any], bool]:
    """Add one blocked event from ``account`` at ``at`` to a token's state: the new state (only
    events within ``window_s`` of the newest are kept, at most ``4 * min_events`` of them) and
    whether the token now has enough evidence to be learned. An event already counted (its id
    and account) counts once: a signed record re-sent twice made 3 events 5, and taught the fleet
    to block a bank's domain three phishing messages had named."""
    held = [
        (float(entry[0]), str(entry[1]), str(entry[2]) if len(entry) > 2 else "")
        for entry in state.get("seen", [])
    ]
    newest = max([at, *(t for t, _, _ in held)])
    seen = [item for item in held if newest - item[0] <= window_s]
    counted = event_id and any(a == account and e == event_id for _, a, e in seen)
    if not counted and newest - at <= window_s:
        seen.append((at, account, event_id))
    seen = sorted(seen)[-max(4 * min_events, min_accounts) :]
    accounts = {a for _, a, _ in seen}
    ready = len(seen) >= min_events and len(accounts) >= min_accounts
    return {**state, "seen": [list(item) for item in seen]}, ready


def evidence(state: Mapping[str, Any]) -> tuple[int, int]:
    """``(events, distinct accounts)`` a token's state holds."""
    seen = state.get("seen", [])
    return len(seen), len({entry[1] for entry in seen})


# -- the list a worker serves -------------------------------------------------------------------------
class LearnedList:
    """Learned entries (from the fleet) with the rules file's pins and removals applied."""

    def __init__(
        self,
        entries: Iterable[LearnedEntry] = (),
        pinned: Iterable[str] = (),
        removed: Iterable[str] = (),
    ) -> None:
        self.removed = frozenset(removed)
        self.entries: dict[str, LearnedEntry] = {e.token: e for e in entries}
        for token in pinned:
            if token not in self.removed:
                self.entries[token] = LearnedEntry(token, "pinned", LEARNED_CATEGORY, 0.0, None)
        for token in self.removed:
            self.entries.pop(token, None)

    def __len__(self) -> int:
        return len(self.entries)

    def active(self, now: float) -> list[LearnedEntry]:
        return [e for e in self.entries.values() if e.expires_at is None or now < e.expires_at]

    def match(self, contacts: Contacts, now: float) -> list[LearnedEntry]:
        """The entries, unexpired and not removed, that these contacts carry."""
        if not self.entries:
            return []
        fired = []
        for token in sorted(candidates(contacts)):
            entry = self.entries.get(token)
            if entry is not None and (entry.expires_at is None or now < entry.expires_at):
                fired.append(entry)
        return fired


def entry_from_record(data: object, now: float, ttl_s: float) -> LearnedEntry:
    """A learned-list record of the topic; ``ValueError`` if it is not one. Its expiry is capped
    at ``ttl_s`` after ``now`` (when this worker read it): a forged record cannot block longer."""
    if not isinstance(data, dict) or data.get("kind") != "learned_contact":
        msg = "not a learned_contact record"
        raise ValueError(msg)
    token, kind = data.get("token"), data.get("token_kind")
    if kind not in KINDS or not learnable(str(kind), token):
        msg = f"bad token {token!r} of kind {kind!r}"
        raise ValueError(msg)
    learned_at, expires_at = float(data["learned_at"]), float(data["expires_at"])
    if not (0.0 <= learned_at <= now + ttl_s and 0.0 <= expires_at < math.inf):
        # a time like -1e308 could not even be logged (the follower stopped at it, for good)
        msg = f"learned_at={learned_at!r}, expires_at={expires_at!r} are not times"
        raise ValueError(msg)
    category = data.get("category")
    return LearnedEntry(
        str(token),
        str(kind),
        category if category in _CATEGORY_OK else LEARNED_CATEGORY,
        learned_at,
        min(expires_at, now + ttl_s),
        int(data.get("events", 0)),
        int(data.get("accounts", 0)),
    )


_CATEGORY_OK = frozenset(TAXONOMY)
