"""Campaigns: near-duplicates of one text sent by many accounts. Pure: no Kafka.

Each fingerprinted event (``models.fingerprint``) is counted under each of its LSH band keys; a
band whose members come from ``min_accounts`` distinct accounts within the window is a campaign.
Several bands of one campaign cross, on different partitions and workers, so a campaign is
identified by its *bands*: every member brings all its band keys, a crossing band announces the
keys its members had (:func:`core_bands`) and proposes the smallest as the id, and readers
join announcements whose bands overlap a live campaign to the campaign they already know
(:class:`CampaignBook`), in the order of the single-partition campaigns topic, which every worker
reads alike.

Which keys a band announces depends on the order and batches in which its first members were
counted, so a later variant may carry none of them. Each worker therefore widens a campaign with
the keys of the near-duplicates it has seen itself (:meth:`CampaignBook.member_of`): an event that
shares ``ADOPT_SHARED`` keys with the campaign (estimated Jaccard similarity about 0.7 or more)
brings in all its keys, whether the worker decided it before the announcement or marked it after.

A campaign is *harmful* when most of its accounts sent a member the model or the rules flagged
(review or block), or when members of two accounts share a contact token that also appears in
blocked members of two accounts and a tenth of its accounts sent a blocked member;
otherwise it is *clean* (a viral joke, a holiday greeting) and only recorded, never escalated.
A harmful campaign restricts its members' accounts only when its harm rests on more than review
flags (:func:`member_action`): 30 accounts sending one ordinary text the model reviewed just over
its line, and blocked none of, were all restricted; such a campaign sends them to review.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# what a band key looks like (models.fingerprint.band_keys): 16 hex digits
_BAND = re.compile(r"^[0-9a-f]{16}$")
_BANDS = re.compile(r"[0-9a-f]{16}(?:,[0-9a-f]{16})*")
ACCOUNTS_KEPT = 1_000  # distinct accounts (and conversations) a band's state remembers
CO_BANDS_KEPT = 64  # co-occurring band keys a band's state counts
TOKENS_KEPT = 32  # contact tokens a band's state counts
MAX_BANDS = 64  # band keys one campaign record may name
SAMPLE_ACCOUNTS = 50  # accounts a campaign record lists
# widening a campaign on a worker (CampaignBook.member_of): the fingerprinted events remembered to
# find an announced campaign's earlier members, the keys an event must share with a campaign for
# its others to join it, and the keys one campaign, and all of them, may gain so (a flood of
# campaigns costs a worker at most about 10 MB of widened keys)
RECENT_KEPT = 4_096
ADOPT_SHARED = 2
GROWN_KEPT = 512
GROWN_KEPT_IN_ALL = 100_000


@dataclass(frozen=True, slots=True)
class Member:
    """One event counted under one of its band keys."""

    event_id: str
    account: str
    conversation: str
    flagged: bool  # the model or a rule said review or block
    blocked: bool  # ... block
    tokens: tuple[str, ...]  # its contact tokens
    bands: tuple[str, ...]  # all its band keys
    at: float


def valid_band(band: object) -> bool:
    return isinstance(band, str) and _BAND.match(band) is not None


def valid_bands(bands: object, most: int) -> bool:
    """Whether ``bands`` is a list of 1 to ``most`` band keys (one match for them all)."""
    if not isinstance(bands, list) or not 0 < len(bands) <= most:
        return False
    try:
        joined = ",".join(bands)
    except TypeError:  # not all strings
        return False
    return _valid_joined(joined)


@lru_cache(maxsize=16_384)
def _valid_joined(joined: str) -> bool:
    """Whether ``joined`` is band keys joined by commas (cached: an event's keys come in one
    record per partition they hash to, and the regex is most of a record's checks)."""
    return _BANDS.fullmatch(joined) is not None


def observe(state: Mapping[str, Any], member: Member, window_s: float) -> dict[str, Any]:
    """A band's state with ``member`` counted (:func:`observe_all`)."""
    return observe_all(state, (member,), window_s)


def observe_all(
    state: Mapping[str, Any], members: Iterable[Member], window_s: float
) -> dict[str, Any]:
    """A band's state with ``members`` counted in turn: accounts and conversations seen within
    ``window_s`` of the newest member (at most ``ACCOUNTS_KEPT``), events and flagged events, how often each
    other band key and contact token came along, and the tokens of blocked members.

    The same as counting them one at a time, with one copy of the state for them all: a busy
    band's state holds a thousand accounts, and a batch brings it many members."""
    new = dict(state)
    # every time held is a member's, so none is earlier than the first member's
    oldest = float(state["first_seen"]) if "first_seen" in state else None
    accounts = _Recent(state.get("accounts", {}), oldest)
    conversations = _Recent(state.get("conversations", {}), oldest)
    # a state from before accounts were marked (it has events, not marks) goes on without
    by_account = "flagged_accounts" in state or not state.get("events")
    marks: _Marks | None = None  # made when a member adds to them
    co = dict(state.get("co", {}))
    tokens = dict(state.get("tokens", {}))
    blocked = list(state.get("blocked_tokens", []))
    events, flagged = int(state.get("events", 0)), int(state.get("flagged", 0))
    blocked_events = int(state.get("blocked", 0))
    first = float(state["first_seen"]) if "first_seen" in state else None
    last = float(state["last_seen"]) if "last_seen" in state else None
    sample = new.get("sample")
    for member in members:
        at = member.at
        if last is None or at > last:
            last = at
        # the window slides with the newest member, whatever order members come in
        accounts.see(member.account, at, window_s, last)
        conversations.see(member.conversation, at, window_s, last)
        events += 1
        flagged += member.flagged
        blocked_events += member.blocked
        if by_account and (member.flagged or member.blocked or member.tokens):
            marks = marks or _Marks(state, oldest)
            marks.add(member, window_s, last)
        for band in member.bands:  # _count, inline: this loop runs for every band member
            co[band] = co.get(band, 0) + 1
        if len(co) > CO_BANDS_KEPT:
            co = _most_counted(co, CO_BANDS_KEPT)
        if member.tokens:
            tokens = _count(tokens, member.tokens, TOKENS_KEPT)
            if marks is not None:
                marks.trim(tokens)
            if member.blocked:
                blocked = list(dict.fromkeys([*blocked, *member.tokens]))[-TOKENS_KEPT:]
                new["blocked_tokens"] = blocked
        if first is None or at < first:
            first = at
        if sample is None:
            sample = new["sample"] = member.event_id
    new["accounts"], new["conversations"] = accounts.seen, conversations.seen
    new["events"], new["flagged"], new["blocked"] = events, flagged, blocked_events
    new["co"], new["tokens"] = co, tokens
    if by_account:
        (marks or _Marks(state, oldest)).write(new, window_s, last)
    if first is not None:
        new["first_seen"], new["last_seen"] = first, last
    return new


class _Marks:
    """A band's marks on accounts: which sent a flagged member, which a blocked one (both
    within the window, at most ``ACCOUNTS_KEPT``), and up to two accounts that carried each
    contact token, and each token in a blocked member. Copied from the state only when a
    member adds to them: most bands' batches add nothing."""

    def __init__(self, state: Mapping[str, Any], oldest: float | None) -> None:
        self.state = state
        self.oldest = oldest
        self.by: dict[str, _Recent] = {}  # "flagged_accounts", "blocked_accounts"
        self.tokens: dict[str, dict[str, list[str]]] = {}  # "token_accounts", ...

    def add(self, member: Member, window_s: float, newest: float) -> None:
        # accounts expire by the newest time when one is added, and in write(): the same as
        # expiring them at every member, without a call per member
        if member.flagged:
            self._recent("flagged_accounts").see(member.account, member.at, window_s, newest)
        if member.blocked:
            self._recent("blocked_accounts").see(member.account, member.at, window_s, newest)
        for token in member.tokens:
            self._carried("token_accounts", token, member.account)
            if member.blocked:
                self._carried("blocked_token_accounts", token, member.account)

    def trim(self, counted: Mapping[str, int]) -> None:
        """Forget the carriers of tokens no longer counted, and keep the latest
        ``TOKENS_KEPT`` tokens of blocked members."""
        carriers = self.tokens.get("token_accounts")
        if carriers is not None and len(carriers) > len(counted):
            self.tokens["token_accounts"] = {t: a for t, a in carriers.items() if t in counted}
        blockers = self.tokens.get("blocked_token_accounts")
        if blockers is not None and len(blockers) > TOKENS_KEPT:
            self.tokens["blocked_token_accounts"] = dict(list(blockers.items())[-TOKENS_KEPT:])

    def write(self, new: dict[str, Any], window_s: float, newest: float | None) -> None:
        """Put the marks into ``new`` (a copy of the state), accounts expired by ``newest``."""
        for key in ("flagged_accounts", "blocked_accounts"):
            recent = self.by.get(key)
            if recent is None and self.state.get(key):  # held accounts may have expired
                recent = self._recent(key)
            if recent is not None:
                if newest is not None:
                    recent.see("", newest, window_s, newest)
                new[key] = recent.seen
            else:
                new.setdefault(key, {})
        for key in ("token_accounts", "blocked_token_accounts"):
            if key in self.tokens:
                new[key] = self.tokens[key]
            else:
                new.setdefault(key, {})

    def _recent(self, key: str) -> _Recent:
        recent = self.by.get(key)
        if recent is None:
            recent = self.by[key] = _Recent(self.state.get(key, {}), self.oldest)
        return recent

    def _carried(self, key: str, token: str, account: str) -> None:
        by = self.tokens.get(key)
        if by is None:
            by = self.tokens[key] = {t: list(a) for t, a in self.state.get(key, {}).items()}
        held = by.setdefault(token, [])
        if len(held) < 2 and account not in held:
            held.append(account)


def carried_over(previous: Mapping[str, Any], at: float, window_s: float) -> dict[str, Any]:
    """The state a band starts a new window from, given its state in the previous one and its
    first member's time in the new one: that state while its last member is within
    ``window_s`` of ``at``, else nothing. Windows are the store's unit of expiry, not of
    counting: without this, a campaign spread over a window's end (19 accounts before, 16
    after) never reaches 20 in either, and it is the same campaign. Members older than the
    window still drop out as they do within one (:func:`observe_all`)."""
    last = previous.get("last_seen")
    if not isinstance(last, int | float) or at - float(last) > window_s:
        return {}
    return dict(previous)


class _Recent:
    """Keys (accounts or conversations) and when each was last seen, without those that fell
    out of the window, at most ``ACCOUNTS_KEPT`` of the most recent.

    ``oldest`` is never later than the oldest time held (given, or found), so the scan for
    expired keys runs only when one may have expired. Once full, the least recent key goes for
    each new one: the first few are found by a scan, the rest with a heap of (time, order held,
    key), so a batch of members of a big campaign's band (a thousand accounts held) does not
    scan them all for each. Ties go to the key held longest, as a scan in dict order does."""

    def __init__(self, seen: Mapping[str, Any], oldest: float | None = None) -> None:
        self.seen = dict(seen)
        if oldest is None:
            oldest = min(map(float, self.seen.values()), default=math.inf)
        self.oldest = oldest
        self._heap: list[tuple[float, int, str]] | None = None
        self._order: dict[str, int] = {}  # each key's place in ``seen`` (dicts keep it)
        self._next = 0
        self._scans_left = 4

    def see(self, value: str, at: float, window_s: float, newest: float) -> None:
        """Hold ``value`` as seen at ``at``; keys seen more than ``window_s`` before ``newest``
        (the newest time seen, ``at`` or later) go, and ``value`` is not held if it is one.

        Expiring by ``newest`` rather than by ``at``: members of past windows, their signed
        records re-sent newest first, each kept every key newer than itself, and a day of a
        greeting's copies, a few an hour, added up to a campaign."""
        seen = self.seen
        if seen and newest - self.oldest > window_s:
            self.oldest = min(map(float, seen.values()))
            if newest - self.oldest > window_s:
                seen = self.seen = {k: t for k, t in seen.items() if newest - float(t) <= window_s}
                self.oldest = min(map(float, seen.values()), default=math.inf)
                self._heap = None
        if value and newest - at <= window_s:
            if self._heap is not None:
                if value not in seen:
                    self._order[value], self._next = self._next, self._next + 1
                heapq.heappush(self._heap, (float(at), self._order[value], value))
            seen[value] = at
            self.oldest = min(self.oldest, at)
        while len(seen) > ACCOUNTS_KEPT:  # the least recent goes
            del seen[self._least_recent()]

    def _least_recent(self) -> str:
        if self._heap is None and self._scans_left > 0:  # a few: scanning is cheaper than a heap
            self._scans_left -= 1
            return min(self.seen, key=self.seen.__getitem__)
        if self._heap is None:
            self._order = {key: i for i, key in enumerate(self.seen)}
            self._next = len(self._order)
            self._heap = [(float(t), self._order[k], k) for k, t in self.seen.items()]
            heapq.heapify(self._heap)
        while True:  # entries of keys seen again since, or gone, are skipped
            at, order, key = heapq.heappop(self._heap)
            if key in self.seen and float(self.seen[key]) == at and self._order[key] == order:
                del self._order[key]
                return key


def _count(counts: dict[str, int], items: Iterable[str], kept: int) -> dict[str, int]:
    """``counts`` (changed in place) with each of ``items`` counted once more; past ``kept``
    keys, only the ``kept`` most counted."""
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return _most_counted(counts, kept) if len(counts) > kept else counts


def _most_counted(counts: dict[str, int], kept: int) -> dict[str, int]:
    """The ``kept`` most counted of ``counts``."""
    return dict(sorted(counts.items(), key=lambda kv: kv[1])[-kept:])


def flagged_share(state: Mapping[str, Any]) -> float:
    """The share of a band's accounts that sent a member the model or the rules flagged.

    Accounts, not events: one flagged event counted thirty times (its signed fingerprint record
    re-sent) turned a clean campaign of 22 accounts harmful and restricted members' accounts,
    and one account sending thirty flagged copies could do the same with ordinary traffic. A
    state kept before accounts were (it has no ``flagged_accounts``) answers by events."""
    return _account_share(state, "flagged_accounts", "flagged")


def blocked_share(state: Mapping[str, Any]) -> float:
    """The share of a band's accounts that sent a member blocked on its own (as above)."""
    return _account_share(state, "blocked_accounts", "blocked")


def _account_share(state: Mapping[str, Any], accounts_key: str, events_key: str) -> float:
    if accounts_key in state:
        accounts = state.get("accounts", {})
        if not accounts:
            return 0.0
        return sum(1 for a in state[accounts_key] if a in accounts) / len(accounts)
    events = int(state.get("events", 0))
    return int(state.get(events_key, 0)) / events if events else 0.0


# the share of a campaign's accounts that sent a member the model or the rules blocked on its
# own, from which a harmful campaign restricts its members' accounts rather than sending them
# to review, and from which shared contacts in blocked members make a campaign harmful
RESTRICT_BLOCKED_SHARE = 0.1


def harmful(state: Mapping[str, Any]) -> bool:
    """Most accounts flagged, or a contact token members share is in blocked members and at
    least ``RESTRICT_BLOCKED_SHARE`` of the accounts sent a blocked member.

    The share makes framing cost in proportion to its victims: two attacker accounts whose
    blocked copies named the link 22 innocents shared turned their campaign harmful, and
    every later innocent copy was blocked and its account restricted."""
    if flagged_share(state) > 0.5:
        return True
    if blocked_share(state) < RESTRICT_BLOCKED_SHARE:
        return False
    return bool(set(shared_tokens(state)) & blocked_tokens(state))


def member_action(state: Mapping[str, Any]) -> str:
    """What a harmful campaign does to its members' accounts: ``restrict`` when at least
    ``RESTRICT_BLOCKED_SHARE`` of its accounts sent a member blocked on its own (which a
    campaign harmful by its shared contacts always has); else ``review_account`` (a text the
    model only reviews, sent by many accounts, may be ordinary chat the model is wrong about)."""
    return "restrict" if blocked_share(state) >= RESTRICT_BLOCKED_SHARE else "review_account"


def blocked_tokens(state: Mapping[str, Any]) -> set[str]:
    """Contact tokens carried by blocked members of at least two accounts (of a state kept
    before accounts were: by one blocked member). One account's blocked message naming the link
    every member of a clean campaign shares made the campaign harmful and restricted them all."""
    if "blocked_token_accounts" in state:
        return {t for t, a in state["blocked_token_accounts"].items() if len(a) >= 2}
    return set(state.get("blocked_tokens", []))


def shared_tokens(state: Mapping[str, Any]) -> list[str]:
    """Contact tokens that members of at least two accounts carried (of a state kept before
    accounts were: two members)."""
    if "token_accounts" in state:
        carriers = state["token_accounts"]
        return sorted(t for t in state.get("tokens", {}) if len(carriers.get(t, ())) >= 2)
    return sorted(t for t, n in state.get("tokens", {}).items() if n >= 2)


def due(state: Mapping[str, Any], now: float, *, min_accounts: int, window_s: float) -> bool:
    """Whether a band announces (again): once it reaches ``min_accounts`` accounts, then when
    its events have doubled since it last did, when it turned harmful or began to restrict its
    members' accounts, or when half the window passed (so that readers keep a running campaign
    live)."""
    if len(state.get("accounts", {})) < min_accounts:
        return False
    last = state.get("announced")
    if not last:
        return True
    return (
        int(state.get("events", 0)) >= 2 * int(last["events"])
        or harmful(state) != bool(last["harmful"])
        or (
            harmful(state)
            and member_action(state) == "restrict"
            and last.get("member_action") != "restrict"
        )
        or now - float(last["at"]) >= window_s / 2
    )


def core_bands(state: Mapping[str, Any], band: str) -> tuple[str, ...]:
    """The band keys that stand for the campaign: ``band`` and every other key its members
    had (at most ``CO_BANDS_KEPT``), most common first. Every such member shares ``band`` with
    the campaign, so each of its keys marks near-duplicates of a member; keys only the most
    common members had would leave later variants that carry none of them unmarked, depending
    on which members the band counted first (``tests/unit/test_campaigns.py`` replays that)."""
    others = sorted(((n, b) for b, n in state.get("co", {}).items() if b != band), reverse=True)
    return (band, *(b for _, b in others))[:MAX_BANDS]


def proposed_id(bands: Iterable[str]) -> str:
    """A campaign id from its band keys: the same bands give the same id on any worker."""
    return f"cmp-{min(bands)}"


def valid_campaign_id(value: Any) -> bool:
    """A campaign id as :func:`proposed_id` makes them (with room to spare), so a forged one
    cannot grow what keeps them."""
    return isinstance(value, str) and value.startswith("cmp-") and len(value) <= 40


# -- what a worker serves ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Campaign:
    """A live campaign as a worker knows it from the campaigns topic."""

    campaign_id: str
    bands: frozenset[str]
    harmful: bool
    events: int
    accounts: int
    last_seen: float
    expires_at: float
    member_action: str = "review_account"  # for a harmful one: restrict or review_account

    def reason(self) -> str:
        return f"campaign:{self.campaign_id}"


class CampaignBook:
    """Campaign announcements joined into campaigns: an announcement whose id is known, or whose
    bands overlap a live campaign, updates that campaign (keeping its id); any other starts one.
    Every worker reads the same records in the same order, so every worker ends with the same
    ids. A harmful announcement makes the campaign harmful until it expires.

    A worker's book also widens its campaigns with the keys of the near-duplicates it saw
    (:meth:`member_of`); those keys serve only that worker, never the ids."""

    def __init__(self, window_s: float = 3_600.0) -> None:
        self.window_s = window_s
        self.campaigns: dict[str, Campaign] = {}
        self.by_band: dict[str, str] = {}
        self.recent: deque[tuple[str, ...]] = deque(maxlen=RECENT_KEPT)
        self.keys: dict[str, set[str]] = {}  # per campaign, the keys that mark its members here
        self.grown: dict[str, int] = {}  # per campaign, the keys widening added
        self.grown_in_all = 0
        # when each live campaign was started (the order of ``campaigns``), and a heap of
        # (expiry, id), one entry per update, stale ones skipped when popped: offering a
        # record costs the same with 10 or 50,000 campaigns live, expiring or not
        self._started: dict[str, int] = {}
        self._starts = 0
        self._expiries: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.campaigns)

    def offer(self, record: Mapping[str, Any], now: float) -> Campaign:
        """Join one validated announcement (:func:`parse_record`); the campaign it belongs to."""
        self.expire(now)
        bands = frozenset(record["bands"])
        known = self.campaigns.get(record["campaign_id"])
        if known is None:
            ids = {self.by_band[b] for b in bands if b in self.by_band} & self.campaigns.keys()
            # the first started of them
            known = self.campaigns[min(ids, key=self._started.__getitem__)] if ids else None
        last_seen = float(record["last_seen"])
        if not last_seen <= now:  # later than now, or NaN: a NaN expiry would never lapse
            last_seen = now if last_seen > now else -math.inf
        if known is None:
            campaign = Campaign(
                record["campaign_id"],
                bands,
                bool(record["harmful"]),
                int(record["events"]),
                int(record["accounts"]),
                last_seen,
                last_seen + self.window_s,
                record["member_action"],
            )
        else:
            seen = max(known.last_seen, last_seen)
            campaign = Campaign(
                known.campaign_id,
                (known.bands | bands) if len(known.bands) < 4 * MAX_BANDS else known.bands,
                known.harmful or bool(record["harmful"]),
                max(known.events, int(record["events"])),
                max(known.accounts, int(record["accounts"])),
                seen,
                seen + self.window_s,
                # like harmful: once any band's record restricts, the campaign does
                "restrict"
                if "restrict" in (known.member_action, record["member_action"])
                else "review_account",
            )
        if campaign.expires_at <= now:
            return campaign  # lapsed already (an old record read on start): not served
        cid = campaign.campaign_id
        if cid not in self.campaigns:
            self._started[cid], self._starts = self._starts, self._starts + 1
        self.campaigns[cid] = campaign
        heapq.heappush(self._expiries, (campaign.expires_at, cid))
        keys = self.keys.setdefault(cid, set())
        before = len(keys)
        for band in campaign.bands:
            if self.by_band.setdefault(band, cid) == cid:
                keys.add(band)
        if len(keys) > before:  # new keys may connect remembered events to it
            self._widen_from_recent(cid)
        return campaign

    def expire(self, now: float) -> None:
        """Drop the campaigns that lapsed by ``now``, with the keys they hold. Only the lapsed
        are touched: rebuilding the key index whenever one lapsed cost 0.5 s an offer with
        20,000 campaigns live, lapsing one by one."""
        expiries = self._expiries
        # "not later than now" rather than "by now": an expiry that compares false either way
        # (NaN) lapses at once instead of holding up every campaign behind it for ever
        while expiries and not expiries[0][0] > now:
            _, cid = heapq.heappop(expiries)
            campaign = self.campaigns.get(cid)
            if campaign is None or campaign.expires_at > now:
                continue  # gone already, or extended since (a later entry stands for it)
            del self.campaigns[cid]
            del self._started[cid]
            for band in self.keys.pop(cid, ()):
                if self.by_band.get(band) == cid:
                    del self.by_band[band]
            self.grown_in_all -= self.grown.pop(cid, 0)

    def member_of(self, bands: Sequence[str], now: float) -> Campaign | None:
        """:meth:`match` for an event this worker decides, which it remembers; if the event
        belongs to a campaign, its keys may widen it (:meth:`_widen`)."""
        if not bands:
            return None
        self.recent.append(tuple(bands))
        campaign = self.match(bands, now)
        if campaign is not None:
            self._widen(campaign.campaign_id, bands)
        return campaign

    def _widen(self, campaign_id: str, bands: Sequence[str]) -> bool:
        """Add to the campaign the keys of an event that shares ``ADOPT_SHARED`` keys with it
        (up to ``GROWN_KEPT`` keys a campaign); whether any was added. A key of another
        campaign stays with it."""
        keys = self.keys[campaign_id]
        room = min(
            GROWN_KEPT - self.grown.get(campaign_id, 0),
            GROWN_KEPT_IN_ALL - self.grown_in_all,
        )
        if room <= 0 or len(keys.intersection(bands)) < ADOPT_SHARED:
            return False
        by_band = self.by_band
        new = [band for band in bands if band not in by_band][:room]
        for band in new:
            by_band[band] = campaign_id
        keys.update(new)
        self.grown[campaign_id] = self.grown.get(campaign_id, 0) + len(new)
        self.grown_in_all += len(new)
        return bool(new)

    def _widen_from_recent(self, campaign_id: str) -> None:
        """Widen a campaign with the remembered events that are near-duplicates of it, until
        none adds a key (each pass can bring in members the last one connected)."""
        keys = self.keys[campaign_id]
        for _ in range(8):
            widened = False
            for bands in self.recent:
                if not keys.isdisjoint(bands):
                    widened = self._widen(campaign_id, bands) or widened
            if not widened:
                return

    def match(self, bands: Iterable[str], now: float) -> Campaign | None:
        """The live campaign any of these band keys belongs to, if any."""
        for band in bands:
            cid = self.by_band.get(band)
            if cid is not None:
                campaign = self.campaigns.get(cid)
                if campaign is not None and now < campaign.expires_at:
                    return campaign
        return None


def parse_record(data: object) -> dict[str, Any]:
    """The fields of a campaign announcement that readers use; ``ValueError`` if it is not one.
    Readers take only records with the fleet's signature (``streams.fleet_signing``); a record
    lapses one window after its ``last_seen`` (capped at now)."""
    if not isinstance(data, dict) or data.get("kind") != "campaign":
        msg = "not a campaign record"
        raise ValueError(msg)
    bands = data.get("bands")
    if (
        not isinstance(bands, list)
        or not 0 < len(bands) <= MAX_BANDS
        or not all(valid_band(b) for b in bands)
    ):
        msg = f"bad band keys {str(bands)[:80]!r}"
        raise ValueError(msg)
    campaign_id = data.get("campaign_id")
    if not valid_campaign_id(campaign_id):
        msg = f"bad campaign id {str(campaign_id)[:80]!r}"
        raise ValueError(msg)
    return {
        "campaign_id": campaign_id,
        "bands": bands,
        "harmful": data.get("status") == "harmful",
        # a record of a version that did not say: the milder
        "member_action": "restrict"
        if data.get("member_action") == "restrict"
        else "review_account",
        "events": count_field(data, "events"),
        "accounts": count_field(data, "accounts"),
        "last_seen": time_field(data, "last_seen"),
    }


# the times a campaign record may carry: from the epoch to the year 3000 (a bound, not a check of
# the writer's clock: readers cap a later last_seen at their now)
EARLIEST_TIME, LATEST_TIME = 0.0, 32_503_680_000.0


def time_field(data: Mapping[str, Any], key: str) -> float:
    """``data[key]`` as a time: a finite number from ``EARLIEST_TIME`` to ``LATEST_TIME``, else
    ``ValueError``. ``float("NaN")`` took "NaN", and a NaN expiry never lapsed and kept every
    campaign after it from lapsing too."""
    value = data.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not EARLIEST_TIME <= value <= LATEST_TIME  # false for NaN
    ):
        msg = f"bad {key} {str(value)[:80]!r}"
        raise ValueError(msg)
    return float(value)


def count_field(data: Mapping[str, Any], key: str) -> int:
    """``data[key]`` as a count: a non-negative whole number, else ``ValueError``."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"bad {key} {str(value)[:80]!r}"
        raise ValueError(msg)
    return value
