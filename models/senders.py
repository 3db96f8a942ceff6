"""Sender behaviour: what one account did across the fleet in a sliding window. Pure: no Kafka.

Per account: messages and messages with contact tokens or links (in ``BUCKETS`` time buckets,
so a rate costs a few numbers however fast the account sends), the distinct conversations it
reached, and per text it sent (a digest of the normalized text, :func:`text_key`) the distinct
conversations that text went to. A text that reaches ``threshold`` conversations within the
window is a *burst*: one account pasting one text into many chats, whatever the text scores.

The same text or a near copy of it: the normalizer already undoes spacing, look-alikes,
invisible characters and turns phone numbers, URLs and amounts into placeholders, and the key
keeps only letters (a counter after each copy is no new text). A text of at least
``SKETCH_TOKENS`` distinct words (Chinese: character pairs) is keyed by a sketch of them, the
low byte of each of its ``SKETCH_TOKENS`` smallest word hashes, and counted with an earlier text
of the account whose sketch shares ``SAME_SKETCH`` of them: a word changed in each copy made
every copy a text of its own. Two words changed still share five; unrelated texts share none
(about 0.2 by chance). A shorter text is keyed by an exact digest, which, unlike a fingerprint,
works for short texts ("加V信领红包"), which spammers send most. One key per message, at most 16
characters, so a worker of the version before reads a sketch as an exact key. Varied texts from many accounts are what campaigns (``models.campaigns``)
catch. Very short texts and common clean phrases ("ok", "新年快乐", "happy birthday!") get no key:
sending "happy new year" to ten friends is not spam.

Bounded: at most ``TEXTS_KEPT`` texts (the most recent) of at most ``threshold`` conversations
each, ``CONVERSATIONS_KEPT`` conversations and ``BUCKETS`` + 1 buckets, whatever the account
sends; conversation ids are kept as 16-hex digests, so their length does not matter.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.fingerprint import is_common, phrase_key
from models.normalize import CJK

TEXTS_KEPT = 16  # distinct texts an account's state remembers (the most recent)
CONVERSATIONS_KEPT = 64  # distinct conversations it counts; more reads as "64 or more"
BUCKETS = 6  # the window's message counts, in this many buckets
MIN_TEXT_CHARS = 4  # letters of the normalized text: shorter texts get no key
SKETCH_TOKENS = 7  # words in a text's sketch; a text of fewer distinct words is keyed exactly
SAME_SKETCH = 5  # words two sketches share for their texts to count as one
SKETCH_PREFIX = "~"  # 1 + 2 * SKETCH_TOKENS characters: a sketch key, not a digest
_NO_DIGITS = str.maketrans("", "", "0123456789")  # full-width digits are these after NFKC
_WORDS = re.compile(r"[^\W\d_]+")
_CJK = re.compile(f"[{CJK}]+")


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
    letters = phrase_key(normalized).translate(_NO_DIGITS)
    if len(letters) < MIN_TEXT_CHARS or is_common(normalized):
        return ""
    return _sketch(normalized) or digest(letters)


def _sketch(normalized: str) -> str:
    """The sketch key of a text of at least ``SKETCH_TOKENS`` distinct words, else "". Chinese
    writes no spaces: its words are the pairs of its characters read as one run, so where a
    copy is cut or spaced does not matter."""
    text = normalized.casefold()
    chinese = "".join(_CJK.findall(text)) if _CJK.search(text) else ""
    tokens = set(_WORDS.findall(_CJK.sub(" ", text) if chinese else text))
    tokens.update(chinese[i : i + 2] for i in range(len(chinese) - 1))
    if len(tokens) < SKETCH_TOKENS:
        return ""
    hashes = [zlib.crc32(token.encode()) for token in tokens]
    smallest = (
        sorted(hashes)[:SKETCH_TOKENS]
        if len(hashes) < 64
        else heapq.nsmallest(SKETCH_TOKENS, hashes)
    )
    return SKETCH_PREFIX + bytes(sorted(h & 0xFF for h in smallest)).hex()


def _shared(a: str, b: str) -> int:
    """Words two sketch keys share (their bytes, as multisets)."""
    return sum((Counter(bytes.fromhex(a[1:])) & Counter(bytes.fromhex(b[1:]))).values())


def same_text(texts: Mapping[str, Any], key: str) -> str:
    """The key among ``texts`` (most recent first) that ``key`` is counted under: itself, or
    an earlier near copy's sketch sharing ``SAME_SKETCH`` words with it."""
    if key in texts or not key.startswith(SKETCH_PREFIX):
        return key
    for earlier in reversed(list(texts)):
        if earlier.startswith(SKETCH_PREFIX) and _shared(key, earlier) >= SAME_SKETCH:
            return earlier
    return key


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
        key = same_text(texts, activity.text)
        sent = texts.pop(key, {})
        sent = _recent(sent, conversation, [at, activity.event_id], threshold)
        texts[key] = sent  # last: the most recently sent text
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
    texts = state.get("texts", {})
    sent = texts.get(same_text(texts, text), {}) if text else {}
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
