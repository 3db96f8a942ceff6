"""Sender behaviour: what one account did across the fleet in a sliding window. Pure: no Kafka.

Per account: messages and messages with contact tokens or links (in ``BUCKETS`` time buckets,
so a rate costs a few numbers however fast the account sends), the distinct conversations it
reached, and per text it sent (a digest of the normalized text, :func:`text_key`) the distinct
conversations that text went to. A text that reaches ``threshold`` conversations within the
window is a *burst*: one account pasting one text into many chats, whatever the text scores.

The same text, not a near-duplicate: the normalizer already undoes spacing, look-alikes,
invisible characters and turns phone numbers, URLs and amounts into placeholders, and the key
keeps only letters (a counter after each copy is no new text), so the copies one account
pastes have one key; an exact digest costs one key per message (MinHash would cost eight) and,
unlike a fingerprint, works for short texts ("加V信领红包"), which spammers send most. Varied texts from many accounts are what campaigns (``models.campaigns``)
catch. Very short texts and common clean phrases ("ok", "新年快乐", "happy birthday!") get no key:
sending "happy new year" to ten friends is not spam.

Bounded: at most ``TEXTS_KEPT`` texts (the most recent) of at most ``threshold`` conversations
each, ``CONVERSATIONS_KEPT`` conversations and ``BUCKETS`` + 1 buckets, whatever the account
sends; conversation ids are kept as 16-hex digests, so their length does not matter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.fingerprint import is_common, phrase_key

TEXTS_KEPT = 16  # distinct texts an account's state remembers (the most recent)
CONVERSATIONS_KEPT = 64  # distinct conversations it counts; more reads as "64 or more"
BUCKETS = 6  # the window's message counts, in this many buckets
MIN_TEXT_CHARS = 4  # letters of the normalized text: shorter texts get no key


@dataclass(frozen=True, slots=True)
class Activity:
    """One message of an account."""

    event_id: str
    conversation: str
    text: str  # :func:`text_key` of its normalized text, "" for none
    contact: bool  # it carries a contact token or a link
    at: float


@dataclass(frozen=True, slots=True)
class Behaviour:
    """An account's counts within the window."""

    messages: int
    per_minute: float
    conversations: int  # distinct, at most CONVERSATIONS_KEPT
    contact_share: float  # share of its messages with contact tokens or links


def digest(value: str) -> str:
    """16 hex digits standing for ``value``, the same in every process."""
    return hashlib.blake2b(value.encode(), digest_size=8).hexdigest()


def text_key(normalized: str) -> str:
    """The key under which copies of one normalized text are counted (its letters, so spacing,
    punctuation, emoji and digits do not tell copies apart: a counter after each copy, "… 1",
    "… #2", made every copy a text of its own and no burst), or "" for a text too short or
    too common to say anything about its sender."""
    letters = "".join(c for c in phrase_key(normalized) if not c.isdigit())
    if len(letters) < MIN_TEXT_CHARS or is_common(normalized):
        return ""
    return digest(letters)


def observe(
    state: Mapping[str, Any], activity: Activity, *, threshold: int, window_s: float
) -> dict[str, Any]:
    """The account's state with ``activity`` counted; entries more than ``window_s`` older than
    the newest activity counted are dropped, and so is ``activity`` itself if it is that old.

    The window slides with the newest time seen, not with the activity in hand: otherwise
    signed records of an account's past, re-sent newest first, each kept every entry newer than
    itself, and copies of one greeting sent to a few chats a day apart added up to a burst."""
    newest = max(float(state.get("newest", activity.at)), activity.at)
    at, since = activity.at, newest - window_s
    if at <= since:
        return dict(state)
    new = dict(state)
    new["newest"] = newest
    width = window_s / BUCKETS
    bucket = str(int(at // width))
    buckets = {
        b: list(n) for b, n in state.get("buckets", {}).items() if (int(b) + 1) * width > since
    }
    counts = buckets.setdefault(bucket, [0, 0])
    counts[0] += 1
    counts[1] += int(activity.contact)
    new["buckets"] = buckets
    conversation = digest(activity.conversation)
    new["conversations"] = _recent(
        {c: t for c, t in state.get("conversations", {}).items() if t > since},
        conversation,
        at,
        CONVERSATIONS_KEPT,
    )
    texts: dict[str, dict[str, Any]] = {}
    for key, sent in state.get("texts", {}).items():
        live = {c: v for c, v in sent.items() if v[0] > since}
        if live:
            texts[key] = live
    if activity.text:
        sent = texts.pop(activity.text, {})
        sent = _recent(sent, conversation, [at, activity.event_id], threshold)
        texts[activity.text] = sent  # last: the most recently sent text
        if len(texts) > TEXTS_KEPT:
            texts = dict(list(texts.items())[-TEXTS_KEPT:])
    new["texts"] = texts
    return new


def _recent(seen: Mapping[str, Any], key: str, value: Any, kept: int) -> dict[str, Any]:
    """``seen`` with ``key`` set to ``value`` (moved last), keeping the ``kept`` last set."""
    out = {k: v for k, v in seen.items() if k != key}
    out[key] = value
    return dict(list(out.items())[-kept:]) if len(out) > kept else out


def burst(state: Mapping[str, Any], text: str, threshold: int) -> tuple[str, ...]:
    """The event ids that took ``text`` to ``threshold`` distinct conversations within the
    window, oldest first, or ``()`` if it has not reached that many."""
    sent = state.get("texts", {}).get(text, {}) if text else {}
    if len(sent) < threshold:
        return ()
    return tuple(event_id for _, event_id in sorted(sent.values()))


def review_due(state: Mapping[str, Any], now: float, window_s: float) -> bool:
    """Whether the account may be sent to review again: once per window, not per message."""
    return now - float(state.get("reviewed_at", float("-inf"))) >= window_s


def behaviour(state: Mapping[str, Any], window_s: float) -> Behaviour:
    """The counts ``state`` holds (as of its last :func:`observe`)."""
    messages = sum(n[0] for n in state.get("buckets", {}).values())
    contacts = sum(n[1] for n in state.get("buckets", {}).values())
    return Behaviour(
        messages,
        round(messages * 60.0 / window_s, 2),
        len(state.get("conversations", {})),
        round(contacts / messages, 4) if messages else 0.0,
    )


def reason(threshold: int, window_s: float) -> str:
    return f"same text to {threshold} conversations within {window_s:g} s"
