"""The learned list on the fleet: evidence from blocked events, counted per token, taught to every
worker (``models.learned`` says what is learned and why).

1. The pipeline sends, for each blocked event that carries contact tokens, one record per token
   to ``contacts.blocked``, keyed by the token, so every record of a token lands on one
   partition and is counted by the one worker that owns it, fleet-wide.
2. The ``learn_contacts`` agent (``streams.agents``) keeps each token's recent evidence in a
   windowed table and, when a token has enough events from enough accounts, writes a
   ``learned_contact`` record to the ``moderation.learned`` topic, keyed by the token (kept for
   twice ``learn_ttl_s``, never compacted: ``streams.control_topics``).
3. Every worker reads that topic with its own group-less consumer (``LearnedHolder.follow``) and
   blocks messages carrying a learned token until it expires; the signed rules file's
   ``learned: {pin, remove}`` overrides it.

Trust: a learned record blocks every message naming its token (a bank's hotline, a courier's
domain, if forged), so with a fleet key (``streams.fleet_signing``) workers sign what they teach
and follow only records that carry the fleet's signature, like campaign announcements; a
refused one counts in ``chatguard_learned_records_total{result="refused"}``. Without a key, only
ACLs stop a forged record. Either way a learned record only ever *blocks*, for at most
``learn_ttl_s`` after a worker reads it (a longer expiry in the record is cut), and a
moderator's ``remove`` in the signed rules file silences it. It can never allow anything.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import orjson

from chatguard.settings import Settings
from models.learned import LearnedEntry, LearnedList, entry_from_record, tokens_of
from models.rules import Contacts, RuleSet, extract_contacts
from streams import following, metrics, topics, unreadable
from streams.decoding import Event
from streams.fleet_signing import FleetSigner
from streams.following import follow_records, retrying
from streams.records import BlockedContact, Decision

log = logging.getLogger(__name__)
READER_ROLE = "learned-reader"
# entries held before expired ones are first forgotten (``LearnedHolder._prune``)
PRUNE_FROM = 1_024
# live entries kept at most: without a fleet key anyone who can write the topic could add
# 200,000 (117 MB, and 55 ms to rebuild the list each batch); past it the soonest to expire go
MAX_ENTRIES = 50_000


class LearnedHolder:
    """The learned entries this worker knows, and the list they make with a rules file."""

    def __init__(self, ttl_s: float = 86_400.0) -> None:
        self.ttl_s = ttl_s
        self.entries: dict[str, LearnedEntry] = {}
        self._view: tuple[tuple[str, int], LearnedList] | None = None
        self._generation = 0
        self._prune_at = PRUNE_FROM

    def offer(self, key: bytes | None, value: bytes | None, now: float) -> LearnedEntry | None:
        """Learn (or, for a tombstone, forget) the token of one record; the new entry or None."""
        token = (key or b"").decode(errors="replace")
        if value is None:
            if self.entries.pop(token, None) is not None:
                self._generation += 1
            return None
        try:
            entry = entry_from_record(orjson.loads(value), now, self.ttl_s)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            log.warning("skipping a learned-list record keyed %r: %s", token[:80], exc)
            metrics.LEARNED_RECORDS.labels(result="refused").inc()
            return None
        self.entries[entry.token] = entry
        self._generation += 1
        if len(self.entries) >= self._prune_at:
            self._prune(now)
        metrics.LEARNED_RECORDS.labels(result="ok").inc()
        log.info(
            "learned %s %s (%d events, %d accounts) until %s",
            entry.kind,
            entry.token,
            entry.events,
            entry.accounts,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.expires_at or 0)),
        )
        return entry

    def _prune(self, now: float) -> None:
        """Forget expired entries (they never match), each time the list has doubled since: a
        stream of learned records costs a constant per record, and the list stays as long as
        what is live."""
        self.entries = {
            token: entry
            for token, entry in self.entries.items()
            if entry.expires_at is None or now < entry.expires_at
        }
        if len(self.entries) > MAX_ENTRIES:
            log.warning(
                "%d learned entries live, over %d: forgetting those that expire soonest",
                len(self.entries),
                MAX_ENTRIES,
            )
            kept = sorted(self.entries.items(), key=lambda item: item[1].expires_at or math.inf)
            self.entries = dict(kept[-MAX_ENTRIES:])
            self._generation += 1
        self._prune_at = max(PRUNE_FROM, 2 * len(self.entries))

    def view(self, ruleset: RuleSet) -> LearnedList:
        """The served list: learned entries with ``ruleset``'s pins and removals applied."""
        stamp = (ruleset.sha256, self._generation)
        if self._view is None or self._view[0] != stamp:
            self._view = (
                stamp,
                LearnedList(self.entries.values(), ruleset.pinned, ruleset.removed),
            )
            metrics.LEARNED_ENTRIES.set(len(self._view[1]))
        return self._view[1]

    async def follow(self, settings: Settings) -> None:
        """Read ``moderation.learned`` from the beginning, for ever; a lost connection is
        retried, never the end of the task."""
        self.ttl_s = settings.learn_ttl_s
        await retrying("the learned list", lambda: self._follow(settings))

    async def _follow(self, settings: Settings) -> None:
        await follow_records(
            settings,
            settings.topic(topics.LEARNED),
            READER_ROLE,
            4096,
            self.offer,
            metrics.LEARNED_RECORDS.labels(result="refused").inc,
            FleetSigner.for_settings(settings),
        )


def evidence_records(
    events: Sequence[Event],
    decisions: Sequence[Decision],
    contacts: Sequence[Contacts | None],
    counted: Sequence[bool],
) -> list[tuple[int, bytes, bytes]]:
    """``(event index, key, value)`` for ``contacts.blocked``: one per contact token of each
    blocked event whose block is ``counted`` (not the learned list's own doing)."""
    out = []
    for i, (event, decision) in enumerate(zip(events, decisions, strict=True)):
        if decision.action != "block" or not counted[i]:
            continue
        given = contacts[i]
        found = given if given is not None else extract_contacts(event.text)
        category = (decision.triggered or ("fraud",))[0]
        for kind, token in tokens_of(found):
            value = BlockedContact(
                "blocked_contact",
                token,
                kind,
                event.account_id,
                event.event_id,
                category,
                decision.decided_at,
            )
            out.append((i, token.encode(), orjson.dumps(value)))
    return out


async def read_learned(settings: Settings) -> list[LearnedEntry]:
    """The learned entries on the topic now (for ``chatguard rules show``)."""
    holder = LearnedHolder(settings.learn_ttl_s)
    signer, name = FleetSigner.for_settings(settings), settings.topic(topics.LEARNED)
    consumer, partitions = await _read_from_beginning(settings)
    try:
        ends = await consumer.end_offsets(partitions)
        now = time.time()
        positions = await following.start_positions(consumer, partitions)
        while [tp for tp in partitions if positions[tp] < ends[tp]]:
            fetched, _ = await unreadable.fetch_from(consumer, partitions, positions, 1000)
            for records in fetched.values():
                for message in records:
                    if signer.problem(name, message.key, message.value, message.headers):
                        continue  # not the fleet's: workers do not follow it either
                    holder.offer(message.key, message.value, now)
    finally:
        await consumer.stop()
    return sorted(holder.entries.values(), key=lambda e: e.token)


async def _read_from_beginning(settings: Settings) -> tuple[Any, list[Any]]:
    """A started committed-only reader of the learned topic, on every partition from offset 0
    (the caller stops it)."""
    return await following.read_from_beginning(
        settings, settings.topic(topics.LEARNED), READER_ROLE
    )


SHARED = LearnedHolder()  # the worker's learned list: the pipeline and the follow task share it


class TokenBudget:
    """How many contact tokens new to the learned list's count a worker may start counting in
    one window (of ``window_s``, by the clock). Faust kept every key of a windowed table in
    memory until its window expires, so blocked messages naming made-up numbers grew a worker
    by about 0.5 KB per number for hours; expiry no longer holds keys in memory
    (``streams.window_index``), and the budget still bounds the changelog records and keys on
    disk a flood of made-up numbers costs. Past it, a new token's evidence is dropped (the tokens
    already counted go on), and the first drop of a window is logged."""

    def __init__(self, per_window: int, window_s: float) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._window = -1
        self._taken = 0

    def take(self, now: float) -> bool:
        """One new token counted at ``now``, if the window's budget allows it."""
        window = int(now // self.window_s)
        if window != self._window:
            self._window, self._taken = window, 0
        if self._taken >= self.per_window:
            if self._taken == self.per_window:
                log.warning(
                    "learned list: %d new contact tokens this window, CHATGUARD_LEARN_MAX_TOKENS;"
                    " evidence for more new ones is dropped until the window ends",
                    self.per_window,
                )
                self._taken += 1  # logged once
            return False
        self._taken += 1
        return True
