"""Sample traffic: realistic chat and post events in English and Chinese, some malformed.

Events are built from ``devtools/samples/traffic.jsonl`` (texts written apart from the training
corpus) with new ids, accounts and timestamps. Every event, malformed or not, is keyed by its
event id, so a test can account for each one in the decisions or the dead-letter topic.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from streams import moderators, topics
from streams.outgoing import OutgoingEvent

SAMPLES = Path(__file__).parent / "samples" / "traffic.jsonl"
ABUSIVE_ACCOUNTS = 12  # abusive samples come from a few accounts, so strikes add up
# what OutgoingEvent.kind may be besides "valid"
MALFORMED_KINDS = (
    "malformed_json",
    "invalid_utf8",
    "missing_field",
    "wrong_type",
    "empty_text",
    "oversize_text",
    "unknown_type",
    "not_an_object",
)


def load_samples(path: Path = SAMPLES) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def build_events(
    count: int,
    *,
    malformed_share: float = 0.05,
    seed: int | None = None,
    samples: Sequence[dict[str, Any]] | None = None,
    max_text_chars: int = 20_000,
) -> list[OutgoingEvent]:
    """``count`` events; about ``malformed_share`` of them malformed in every way we dead-letter."""
    rng = random.Random(seed)
    samples = list(samples) if samples is not None else load_samples()
    now = time.time()
    events = []
    for i in range(count):
        sample = rng.choice(samples)
        event_id = uuid.UUID(int=rng.getrandbits(128)).hex
        abusive = bool(sample.get("expected"))
        account = (
            f"acct-{rng.randrange(ABUSIVE_ACCOUNTS)}"
            if abusive
            else f"user-{rng.randrange(100_000)}"
        )
        if sample.get("kind") == "post":
            topic = topics.POSTS
            data: dict[str, Any] = {
                "type": "post",
                "event_id": event_id,
                "account_id": account,
                "account_type": sample.get("account_type", "personal"),
                "post_kind": sample.get("post_kind", "moment"),
                "title": sample.get("title", ""),
                "text": sample["text"],
                "created_at": now + i * 0.001,
            }
        else:
            topic = topics.CHAT_MESSAGES
            data = {
                "type": "chat.message",
                "event_id": event_id,
                "conversation_id": f"conv-{rng.randrange(5_000)}",
                "sender_id": account,
                "text": sample["text"],
                "sent_at": now + i * 0.001,
            }
        if rng.random() < malformed_share:
            kind = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
            value = _malformed(kind, data, max_text_chars)
        else:
            kind, value = "valid", orjson.dumps(data)
        events.append(
            OutgoingEvent(
                topic,
                event_id.encode(),
                value,
                event_id,
                kind,
                tuple(sample.get("expected", ())),
                account,
            )
        )
    return events


def _malformed(kind: str, data: dict[str, Any], max_text_chars: int) -> bytes:
    broken = dict(data)
    if kind == "malformed_json":
        return orjson.dumps(broken)[:-7]
    if kind == "invalid_utf8":
        return orjson.dumps(broken).replace(b'"text":"', b'"text":"\xff\xfe', 1)
    if kind == "missing_field":
        broken.pop("text")
    elif kind == "wrong_type":
        broken["text"] = 12345
    elif kind == "empty_text":  # every text field blank: one with text left is scored on it
        broken["text"] = "   "
        for name in ("title", "nickname", "bio"):
            if name in broken:
                broken[name] = "\u3000 "
    elif kind == "oversize_text":
        broken["text"] = "x" * (max_text_chars + 1)
    elif kind == "unknown_type":
        broken["type"] = "video.call"
    elif kind == "not_an_object":
        return orjson.dumps([broken])
    return orjson.dumps(broken)


def build_reports(
    events: Sequence[OutgoingEvent],
    count: int,
    *,
    seed: int | None = None,
    moderator_key: bytes | None = None,
) -> list[OutgoingEvent]:
    """User reports of abusive ``events`` (with their real event ids and accounts, the only
    reports that count), and, given the moderator key, a signed confirmation for a third."""
    rng = random.Random(seed)
    abusive = [e for e in events if e.kind == "valid" and e.expected]
    if not abusive:
        return []
    out = []
    for _ in range(count):
        event = rng.choice(abusive)
        report_id = uuid.UUID(int=rng.getrandbits(128)).hex
        data = {
            "type": "user.report",
            "report_id": report_id,
            "reporter_id": f"user-{rng.randrange(100_000)}",
            "event_id": event.event_id,
            "account_id": event.account_id,
            "reason": rng.choice(["fraud", "spam", "sexual", "hate", "scam", "something else"]),
            "reported_at": time.time(),
        }
        out.append(
            OutgoingEvent(
                topics.USER_REPORTS, report_id.encode(), orjson.dumps(data), report_id, "valid"
            )
        )
        if moderator_key is not None and rng.random() < 1 / 3:
            decision = moderators.decision_record(
                moderator_key,
                data,
                outcome="confirm",
                moderator_id="mod-sample",
                at=time.time(),
                categories=list(event.expected),
            )
            out.append(
                OutgoingEvent(
                    topics.MODERATOR_DECISIONS,
                    report_id.encode(),
                    orjson.dumps(decision),
                    report_id,
                    "valid",
                )
            )
    return out
