"""Sender behaviour on the fleet: every chat message's account, conversation and text key,
repartitioned by account so that one table partition counts all of an account's messages
(``models.senders`` says what is counted and why).

1. The pipeline (with ``CHATGUARD_SENDERS`` on) takes from each scored batch its chat messages'
   (event, account, conversation, text key, contact) in the scoring thread (:func:`activities`)
   and sends them to ``sender.activity``, one record per partition of the accounts they come
   from (:func:`activity_records`), so the hot path pays a record per partition and batch.
2. The ``count_senders`` agent (``streams.agents``) folds each message into the account's state
   in the windowed ``sender-activity`` table (RocksDB, recovered from its changelog) and, when
   one text reaches ``sender_conversations`` conversations within ``sender_window_s``, sends
   the account to review (:func:`review_action`), once per window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence

import orjson

from models.learned import tokens_of
from models.normalize import Analysis, normalize
from models.rules import Contacts, known_contacts
from models.senders import Behaviour, reason, text_key
from streams.decoding import Event
from streams.partitioning import partitions_for
from streams.records import AccountAction, SenderActivity, SenderMessage

CATEGORY = "spam"  # what a burst of one text is reviewed as


def activities(
    events: Sequence[Event],
    memo: Mapping[str, Analysis],
    contacts: Mapping[str, Contacts] | None = None,
) -> list[SenderMessage | None]:
    """Per chat message of ``events`` (posts and profiles reach no conversation; ``None`` for
    them): its sender entry. Runs in the scoring thread, on the normalized texts scoring left
    in ``memo`` (a text missing there is normalized here) and the contacts scoring found
    (``models.rules.contacts_of``; a text it could not have seen is searched here)."""
    out: list[SenderMessage | None] = []
    for event in events:
        conversation = event.data.get("conversation_id")
        if not isinstance(conversation, str):
            out.append(None)
            continue
        analysis = memo.get(event.text)
        normalized = analysis[0] if analysis is not None else normalize(event.text)
        contact = bool(event.data.get("urls")) or _has_contact(event.text, analysis, contacts)
        out.append((event.event_id, event.account_id, conversation, text_key(normalized), contact))
    return out


def _has_contact(
    text: str, analysis: Analysis | None, contacts: Mapping[str, Contacts] | None
) -> bool:
    """Whether ``text`` holds a contact token (:func:`models.rules.known_contacts`)."""
    return bool(tokens_of(known_contacts(text, analysis, contacts)))


def activity_records(
    messages: Sequence[SenderMessage | None],
    groups: Sequence[Hashable],
    partitions: int,
    at: float,
) -> list[tuple[int, bytes, bytes]]:
    """``(index of its first message, key, value)`` for ``sender.activity``: one record per
    partition of the accounts (Kafka's default partitioner over ``partitions``) and per
    ``groups`` value (under exactly-once, the message's source partition: a record goes out in
    that partition's transaction), keyed by its first account, so it lands where every other
    message of its accounts does."""
    grouped: dict[tuple[Hashable, int], list[tuple[int, SenderMessage]]] = defaultdict(list)
    present = [(i, m) for i, m in enumerate(messages) if m is not None]
    where = partitions_for([m[1].encode() for _, m in present], partitions)
    for (i, message), partition in zip(present, where, strict=True):
        grouped[(groups[i], partition)].append((i, message))
    out = []
    for group in grouped.values():
        record = SenderActivity("sender_activity", tuple(m for _, m in group), at)
        out.append((group[0][0], group[0][1][1].encode(), orjson.dumps(record)))
    return out


def review_action(
    account: str,
    evidence: tuple[str, ...],
    counts: Behaviour,
    threshold: int,
    window_s: float,
    at: float,
    now: float,
) -> AccountAction:
    """The account sent to review as spam, with the events that took one text to ``threshold``
    conversations and its counts in the window. The action's id names the window of ``at``, the
    signed time of the message that made the burst, so a burst counted again (its records
    re-sent) makes the same action, which consumers of ``account.actions`` drop as a copy."""
    window_start = (at // window_s) * window_s
    return AccountAction(
        f"{account}:sender:{window_start:.0f}",
        account,
        "review_account",
        0.0,
        {CATEGORY: 1.0},
        evidence,
        window_start,
        now,
        reason=reason(threshold, window_s),
        sender={
            "messages": float(counts.messages),
            "per_minute": counts.per_minute,
            "conversations": float(counts.conversations),
            "contact_share": counts.contact_share,
        },
    )
