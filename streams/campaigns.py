"""Campaigns on the fleet: near-duplicates counted per LSH band, announced to every worker, which
marks and escalates their later members (``models.campaigns`` says what a campaign is and why).

1. Each batch is fingerprinted where it is scored, in the same call, from the normalized texts
   scoring computed: band keys, the partition each key hashes to, contact tokens
   (:func:`fingerprints`). With the model in its own process, that is off the event loop's
   interpreter lock too. The pipeline then sends to ``campaign.fingerprints``, per partition its
   events' band keys hash to, one record of those events and their keys there, so all copies of
   a campaign meet on each band key's partition (:func:`fingerprint_records`).
2. The campaign fold (``streams.campaign_fold``) counts each band's members in RocksDB, with
   the topic as its changelog, and announces a band that reaches ``campaign_accounts`` accounts
   to the single-partition ``moderation.campaigns`` (:func:`campaign_record`; kept for three
   windows, ``streams.control_topics``), again at each doubling, on turning harmful and every
   half window.
3. Every worker follows that topic (:meth:`CampaignHolder.follow`); the pipeline stamps
   ``campaign_id`` on the decisions of events whose bands hit a live campaign and, for a harmful
   one, blocks them and sends their account to ``campaign.members`` (:func:`escalate`), where
   the ``escalate_members`` agent gives each account one action per campaign.

Trust: like the learned list, campaign records are written by workers and unsigned. Under ACLs
only workers write the topic; a record only marks and blocks near-duplicates of its band keys,
for one window after its ``last_seen`` (capped at when it was read).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from chatguard.settings import Settings
from models.campaigns import (
    SAMPLE_ACCOUNTS,
    Campaign,
    CampaignBook,
    blocked_share,
    core_bands,
    flagged_share,
    harmful,
    member_action,
    parse_record,
    proposed_id,
    shared_tokens,
    time_field,
)
from models.fingerprint import band_keys
from models.learned import tokens_of
from models.normalize import Analysis, normalize
from models.rules import Contacts, known_contacts
from streams import following, metrics, topics, unreadable
from streams.decoding import Event
from streams.fleet_signing import FleetSigner
from streams.following import follow_records, retrying
from streams.partitioning import partitions_for
from streams.records import (
    CampaignFingerprints,
    CampaignMember,
    CampaignRecord,
    Decision,
    FingerprintedEvent,
)

log = logging.getLogger(__name__)
READER_ROLE = "campaigns-reader"
# fingerprinted events one campaign.fingerprints record carries at most: with ids at their
# limits such a record stays far below the record size limit
EVENTS_PER_RECORD = 64
CAMPAIGN_CATEGORY = "spam"  # what a harmful campaign blocks as when its member was not flagged


# per text: its band keys (none for a text too short or uninformative), the partition of
# ``campaign.fingerprints`` each key hashes to, and, for a fingerprinted text, its contact tokens
Fingerprint = tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]
NOT_FINGERPRINTED: Fingerprint = ((), (), ())


def fingerprints(
    texts: Sequence[str],
    memo: Mapping[str, Analysis],
    partitions: int,
    contacts: Mapping[str, Contacts] | None = None,
) -> dict[str, Fingerprint]:
    """Each distinct text of ``texts`` → its :data:`Fingerprint`, over ``partitions``
    partitions. Pure CPU work on the normalized texts scoring left in ``memo`` (a text missing
    there is normalized here), so it runs where scoring runs: in the scoring process, which
    sends it back with the scores (``streams.scoring_process``). ``contacts``: what
    ``models.rules.contacts_of`` already found for the batch, so those are not searched again."""
    distinct = list(dict.fromkeys(texts))
    analyses = [memo.get(text) for text in distinct]
    normalized = [
        a[0] if a is not None else normalize(t) for a, t in zip(analyses, distinct, strict=True)
    ]
    keys = band_keys(normalized)
    # every band key is 16 hex digits: one numpy pass partitions the whole batch's keys
    where = iter(partitions_for([key.encode() for bands in keys for key in bands], partitions))
    out: dict[str, Fingerprint] = {}
    for text, analysis, bands in zip(distinct, analyses, keys, strict=True):
        if not bands:
            out[text] = NOT_FINGERPRINTED
            continue
        known = known_contacts(text, analysis, contacts)
        tokens = tuple(token for _, token in tokens_of(known))
        out[text] = (bands, tuple(next(where) for _ in bands), tokens)
    return out


def fingerprints_or_empty(
    texts: Sequence[str],
    memo: Mapping[str, Analysis],
    partitions: int,
    contacts: Mapping[str, Contacts] | None = None,
) -> dict[str, Fingerprint]:
    """:func:`fingerprints`, or ``{}`` if they raised: the pipeline then fingerprints the
    batch again in the scoring thread, where an error is handled like any other of the batch."""
    try:
        return fingerprints(texts, memo, partitions, contacts)
    except Exception:
        return {}


def features(
    events: Sequence[Event],
    memo: Mapping[str, Analysis],
    partitions: int,
    known: Mapping[str, Fingerprint] | None = None,
) -> list[Fingerprint]:
    """Per event, its :data:`Fingerprint`: from ``known`` (what scoring computed with the
    scores), else computed here (in the scoring thread)."""
    texts = [event.text for event in events]
    if known is None or any(text not in known for text in texts):
        known = fingerprints(texts, memo, partitions)
    return [known[text] for text in texts]


def fingerprint_records(
    events: Sequence[Event],
    decisions: Sequence[Decision],
    found: Sequence[Fingerprint],
    at: float,
) -> list[tuple[int, bytes, bytes]]:
    """``(index of an event in it, key, value)`` for ``campaign.fingerprints``: per partition
    that band keys of the events hash to, one record of those events (at most
    :data:`EVENTS_PER_RECORD`) with what their decisions were before any campaign escalation
    and which of their keys to count there, keyed by one of those keys."""
    on: dict[int, list[tuple[int, FingerprintedEvent]]] = {}
    keys: dict[int, bytes] = {}
    for i, (event, decision, (bands, partitions, tokens)) in enumerate(
        zip(events, decisions, found, strict=True)
    ):
        if not bands:
            continue
        here: dict[int, list[int]] = {}
        for j, (band, partition) in enumerate(zip(bands, partitions, strict=True)):
            here.setdefault(partition, []).append(j)
            keys.setdefault(partition, band.encode())
        conversation = event.data.get("conversation_id")
        fields = (
            event.event_id,
            event.account_id,
            conversation if isinstance(conversation, str) else "",
            decision.action != "allow",
            decision.action == "block",
            tokens,
            bands,
        )
        for partition, indexes in here.items():
            on.setdefault(partition, []).append((i, (*fields, tuple(indexes))))
    out = []
    for partition, entries in on.items():
        for start in range(0, len(entries), EVENTS_PER_RECORD):
            chunk = entries[start : start + EVENTS_PER_RECORD]
            record = CampaignFingerprints(
                "campaign_fingerprints", tuple(entry for _, entry in chunk), at
            )
            out.append((chunk[0][0], keys[partition], orjson.dumps(record)))
    return out


def suspect_alone(
    decision: Decision, tokens: Sequence[str], review: Mapping[str, float | None], share: float
) -> bool:
    """Whether an event gives a harmful campaign a reason of its own to block it: the model or a
    rule flagged it, it carries a contact token, or it scores at least ``share`` of a category's
    ``review`` threshold. Without one it is only marked: 25 accounts that sent a clean text with
    a casino tail made a harmful campaign whose bands the clean text shares, and five innocent
    senders of the clean text alone were blocked and restricted for it."""
    if decision.action != "allow" or tokens:
        return True
    return any(
        line is not None and decision.scores.get(category, 0.0) >= share * line
        for category, line in review.items()
    )


def escalate(
    decision: Decision,
    campaign: Campaign,
    at: float,
    allowing: frozenset[str] = frozenset(),
    suspect: bool = True,
) -> tuple[Decision, CampaignMember | None]:
    """``decision`` marked with ``campaign``; for a harmful campaign also blocked (the reason
    names the campaign) and the account's membership to be acted on, if the event is
    ``suspect`` on its own (:func:`suspect_alone`) and no allow rule fired for it
    (``allowing``: their reasons): as with the learned list, an explicit allow wins."""
    if not campaign.harmful or not suspect or allowing.intersection(decision.reasons):
        return replace(decision, campaign_id=campaign.campaign_id), None
    triggered = decision.triggered if decision.action == "block" else ()
    category = (triggered or decision.triggered or (CAMPAIGN_CATEGORY,))[0]
    escalated = replace(
        decision,
        campaign_id=campaign.campaign_id,
        action="block",
        triggered=triggered or (category,),
        reasons=(*decision.reasons, campaign.reason()),
    )
    member = CampaignMember(
        "campaign_member",
        decision.account_id,
        campaign.campaign_id,
        decision.event_id,
        category,
        at,
        "restrict" if campaign.member_action == "restrict" else "review_account",
    )
    return escalated, member


def campaign_record(
    state: Mapping[str, Any], band: str, campaign_id: str | None, now: float
) -> CampaignRecord:
    """The announcement of ``band``'s campaign from its state; ``campaign_id`` as announced
    before (kept across updates) or, for a first announcement, one the bands propose."""
    bands = core_bands(state, band)
    events = int(state.get("events", 0))
    accounts = state.get("accounts", {})
    return CampaignRecord(
        "campaign",
        campaign_id or proposed_id(bands),
        band,
        bands,
        "harmful" if harmful(state) else "clean",
        float(state.get("first_seen", now)),
        float(state.get("last_seen", now)),
        events,
        len(accounts),
        len(state.get("conversations", {})),
        round(flagged_share(state), 4),
        tuple(shared_tokens(state)),
        str(state.get("sample", "")),
        tuple(sorted(accounts)[:SAMPLE_ACCOUNTS]),
        now,
        "restrict" if member_action(state) == "restrict" else "review_account",
        round(blocked_share(state), 4),
    )


class CampaignHolder:
    """The live campaigns this worker knows, from ``moderation.campaigns``."""

    def __init__(self, window_s: float = 3_600.0) -> None:
        self.book = CampaignBook(window_s)

    def offer(self, key: bytes | None, value: bytes | None, now: float) -> Campaign | None:
        """Join one record of the topic; the campaign it belongs to, or None if refused."""
        if value is None:
            return None  # a tombstone: the band's campaign lapses with its window
        try:
            record = parse_record(orjson.loads(value))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            band = (key or b"").decode(errors="replace")[:80]
            log.warning("skipping a campaign record keyed %r: %s", band, exc)
            metrics.CAMPAIGN_RECORDS.labels(result="refused").inc()
            return None
        known = record["campaign_id"] in self.book.campaigns
        before = self.book.campaigns.get(record["campaign_id"])
        campaign = self.book.offer(record, now)
        metrics.CAMPAIGN_RECORDS.labels(result="ok").inc()
        metrics.LIVE_CAMPAIGNS.set(len(self.book))
        if not known or (before is not None and before.harmful != campaign.harmful):
            log.info(
                "campaign %s is live (%s): %d events from %d accounts",
                campaign.campaign_id,
                "harmful" if campaign.harmful else "clean",
                campaign.events,
                campaign.accounts,
            )
        return campaign

    def match(self, bands: Sequence[str], now: float) -> Campaign | None:
        return self.book.match(bands, now) if bands and self.book.campaigns else None

    def member_of(self, bands: Sequence[str], now: float) -> Campaign | None:
        """The live campaign an event this worker decides belongs to (``CampaignBook.member_of``:
        remembered, and widening its campaign)."""
        return self.book.member_of(bands, now)

    async def follow(self, settings: Settings) -> None:
        """Read ``moderation.campaigns`` from the beginning, for ever; a lost connection is
        retried, never the end of the task."""
        self.book.window_s = settings.campaign_window_s
        await retrying("the campaigns", lambda: self._follow(settings))

    async def _follow(self, settings: Settings) -> None:
        await follow_records(
            settings,
            settings.topic(topics.CAMPAIGNS),
            READER_ROLE,
            16_384,
            self.offer,
            metrics.CAMPAIGN_RECORDS.labels(result="refused").inc,
            FleetSigner.for_settings(settings),
        )


async def read_campaigns(
    settings: Settings, skipped: list[str] | None = None
) -> list[dict[str, Any]]:
    """The latest record of each band on the topic now (for ``chatguard campaigns``). A record
    the fleet did not sign, or that is not JSON, is left out and ``skipped`` (if given) gets a
    line saying where and why: anyone who can write to the topic can put one there."""
    consumer, partitions = await read_from_beginning(settings)
    latest: dict[bytes | None, dict[str, Any]] = {}
    signer, name = FleetSigner.for_settings(settings), settings.topic(topics.CAMPAIGNS)
    try:
        ends = await consumer.end_offsets(partitions)
        positions = await following.start_positions(consumer, partitions)
        while [tp for tp in partitions if positions[tp] < ends[tp]]:
            fetched, _ = await unreadable.fetch_from(consumer, partitions, positions, 1000)
            for records in fetched.values():
                for message in records:
                    where = f"{name}[{message.partition}]@{message.offset}"
                    problem = signer.problem(name, message.key, message.value, message.headers)
                    if problem:  # not the fleet's: workers do not follow it either
                        _note(skipped, f"{where}: {problem}")
                        continue
                    try:
                        latest[message.key] = orjson.loads(message.value or b"null")
                    except orjson.JSONDecodeError as exc:
                        _note(skipped, f"{where}: not JSON ({exc})")
    finally:
        await consumer.stop()
    return [r for r in latest.values() if isinstance(r, dict) and r.get("kind") == "campaign"]


def _note(notes: list[str] | None, note: str) -> None:
    if notes is not None:
        notes.append(note)


def live_campaigns(
    records: Sequence[dict[str, Any]],
    window_s: float,
    now: float,
    refused: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The live campaigns ``records`` (the topic's, oldest first) make, as workers join them:
    per campaign its status, size, when it was first and last seen, shared contacts and a
    sample, largest first (for ``chatguard campaigns``). A record that is not a campaign
    announcement, or has a listed field of another type, is left out, and ``refused`` (if
    given) gets a line saying which and why: one bad record must not hide the others."""
    book = CampaignBook(window_s)
    # per campaign, the listed fields of the records that joined it
    joined: dict[str, list[tuple[float, list[str], str]]] = {}
    for record in records:
        try:
            parsed, fields = parse_record(record), listed_fields(record)  # both before joining
            campaign = book.offer(parsed, now)
        except (KeyError, TypeError, ValueError) as exc:
            if refused is not None:
                cid, band = (str(record.get(key, "?"))[:40] for key in ("campaign_id", "band"))
                refused.append(f"campaign record {cid!r} (band {band!r}): {exc}")
            continue
        joined.setdefault(campaign.campaign_id, []).append(fields)
    out = []
    for campaign_id, campaign in book.campaigns.items():
        parts = joined[campaign_id]
        out.append(
            {
                "campaign_id": campaign_id,
                "status": "harmful" if campaign.harmful else "clean",
                "events": campaign.events,
                "accounts": campaign.accounts,
                "bands": len(campaign.bands),
                "first_seen": min(first for first, _, _ in parts),
                "last_seen": campaign.last_seen,
                "contacts": sorted({c for _, contacts, _ in parts for c in contacts}),
                "sample_event_id": parts[0][2],
            }
        )
    return sorted(out, key=lambda c: c["events"], reverse=True)


def listed_fields(record: Mapping[str, Any]) -> tuple[float, list[str], str]:
    """The fields only the listing reads (first seen, contacts, sample event), checked:
    ``ValueError`` if one is of another type. The worker's own are :func:`parse_record`'s."""
    first_seen = time_field(record, "first_seen") if "first_seen" in record else 0.0
    contacts = record.get("contacts", [])
    if not isinstance(contacts, list) or not all(isinstance(c, str) for c in contacts):
        msg = f"bad contacts {str(contacts)[:80]!r}"
        raise ValueError(msg)
    sample = record.get("sample_event_id", "")
    if not isinstance(sample, str):
        msg = f"bad sample_event_id {str(sample)[:80]!r}"
        raise ValueError(msg)
    return first_seen, contacts, sample


async def read_from_beginning(settings: Settings) -> tuple[Any, list[Any]]:
    """A started committed-only reader of the campaigns topic from offset 0 (the caller stops
    it)."""
    return await following.read_from_beginning(
        settings, settings.topic(topics.CAMPAIGNS), READER_ROLE
    )


SHARED = CampaignHolder()  # the worker's campaigns: the pipeline and the follow task share it
