"""Sender behaviour: one account's messages counted per text and conversation in a sliding
window, a burst of one text sent to review once per window, bounded state, and the records that
carry the messages to the account's partition."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2

from chatguard.settings import Settings, SettingsError
from models.normalize import analyse, normalize
from models.registry import ModelRegistry
from models.rules import extract_contacts
from models.senders import (
    CONVERSATIONS_KEPT,
    TEXTS_KEPT,
    Activity,
    behaviour,
    burst,
    observe,
    reason,
    review_due,
    same_text,
    text_key,
)
from streams import topics
from streams.pipeline import ModerationPipeline, RawMessage
from streams.senders import activities, activity_records, review_action
from tests.agents.harness import chat
from tests.unit.test_campaigns import Sink, _pipeline, decode_chat
from tests.unit.test_contracts import assert_valid

N = 5
WINDOW = 60.0
SPAM = text_key(normalize("加V信 a8k9 领取红包，日结300"))


def sent(
    texts: Iterable[tuple[str, str]], start: float = 1_000.0, step: float = 1.0
) -> dict[str, Any]:
    """The state after one account sent each ``(text key, conversation)``, ``step`` s apart."""
    state: dict[str, Any] = {}
    for i, (text, conversation) in enumerate(texts):
        activity = Activity(f"e{i}", conversation, text, False, start + i * step)
        state = observe(state, activity, threshold=N, window_s=WINDOW)
    return state


def test_copies_of_one_text_share_a_key_and_short_or_common_texts_have_none() -> None:
    copies = [
        "加V信 a8k9 领取红包，日结300",
        "加 V 信 a8k9 领 取 红 包 ，日结300 🎁",
        "加Ｖ信 a8k9 领取红包!! 日结３００",
    ]
    assert {text_key(normalize(t)) for t in copies} == {SPAM}
    assert text_key(normalize("are you coming to the meeting at 3 pm today?")) != SPAM
    # a counter after each copy does not make it another text
    counted = [f"加V信 a8k9 领取红包，日结300 {suffix}" for suffix in ("1", "#2", "(3)", "[44]")]
    assert {text_key(normalize(t)) for t in counted} == {SPAM}
    assert text_key(normalize("加V信 a8k9 领取红包，日结300 No.4")) != SPAM  # a word: another text
    for text in [
        "ok",
        "OK!!!",
        "哈哈哈",
        "收到",
        "新年快乐！",
        "Happy birthday!! 🎂",
        "好的，没问题",
    ]:
        assert text_key(normalize(text)) == "", text


def test_one_text_to_n_conversations_within_the_window_is_a_burst() -> None:
    state = sent((SPAM, f"c{i}") for i in range(N))
    assert burst(state, SPAM, N) == tuple(f"e{i}" for i in range(N))


BAGS = "Limited offer: cheap designer bags and watches, free shipping worldwide, message me {}"
PAIRED = "高仿名牌包包手表，一比一做工，全国包邮，支持验货，{}看图"


@pytest.mark.parametrize(
    ("template", "changes"),
    [
        (BAGS, ["today", "now", "asap", "tonight", "quickly"]),  # the last word changed
        (PAIRED, ["加我微信", "加V", "私聊我", "找我", "联系客服"]),  # a Chinese phrase changed
    ],
)
def test_copies_with_a_word_changed_in_each_are_one_text(template: str, changes: list[str]) -> None:
    """One account sent one offer to five chats, each copy with another word: every copy was a
    text of its own, and no burst."""
    keys = [text_key(normalize(template.format(change))) for change in changes]
    assert len(set(keys)) > 1  # not one exact key: a near copy, counted with the first
    state = sent((key, f"c{i}") for i, key in enumerate(keys))
    assert burst(state, keys[-1], N) == tuple(f"e{i}" for i in range(N))


def test_two_words_changed_are_still_one_text_and_unrelated_texts_are_not() -> None:
    first = text_key(normalize(BAGS.format("today")))
    two = text_key(
        normalize(
            "Limited deal: cheap designer bags and shoes, free shipping worldwide, message me today"
        )
    )
    state = sent([(first, "c0")])
    assert same_text(state["texts"], two) == first
    chats = [
        "are you coming to the meeting at 3 pm today or tomorrow morning?",
        "mum says dinner is at seven, bring the salad and the big bowl",
        "did anyone find my blue umbrella after the football match on sunday",
        "the printer on the second floor is jammed again, who has the key",
        "we need two more players for the badminton game on friday night",
    ]
    keys = [text_key(normalize(text)) for text in chats]
    state = sent((key, f"c{i}") for i, key in enumerate(keys))
    assert len(state["texts"]) == len(chats)  # five texts, each to one chat
    assert not any(burst(state, key, N) for key in keys)
    # a short text keeps an exact key: "hi Anna" and "hi Bob" are not one text
    assert text_key(normalize("see you at the cafe, Anna")) != text_key(
        normalize("see you at the cafe, Bob")
    )


@pytest.mark.parametrize(
    ("texts", "step"),
    [
        ([(SPAM, f"c{i % (N - 1)}") for i in range(3 * N)], 1.0),  # N-1 conversations
        ([(f"{i:016x}", f"c{i}") for i in range(N)], 1.0),  # N texts to N conversations
        ([(SPAM, f"c{i}") for i in range(N)], WINDOW / (N - 1) + 0.1),  # spread over > window
        ([("", f"c{i}") for i in range(3 * N)], 1.0),  # texts without a key
    ],
    ids=["fewer-conversations", "different-texts", "slower-than-the-window", "no-key"],
)
def test_no_burst(texts: list[tuple[str, str]], step: float) -> None:
    state = sent(texts, step=step)
    assert not any(burst(state, text, N) for text, _ in texts)


def test_a_burst_across_a_window_boundary_is_still_one_window() -> None:
    # the agent carries the previous window's state over, so only the timestamps decide
    state = sent(((SPAM, f"c{i}") for i in range(N)), start=1_000 * WINDOW - 2.5)
    assert len(burst(state, SPAM, N)) == N


def test_past_records_re_sent_newest_first_make_no_burst() -> None:
    """A text sent to one conversation a day, for N days: its signed records re-sent newest
    first each kept every entry newer than itself, and the N days made a burst."""
    day = 86_400.0
    state: dict[str, Any] = {}
    for i in reversed(range(N)):
        activity = Activity(f"e{i}", f"c{i}", SPAM, False, 1e6 + i * day)
        state = observe(state, activity, threshold=N, window_s=WINDOW)
    assert not burst(state, SPAM, N)
    assert behaviour(state, WINDOW).messages == 1
    # records of one window arriving out of order still count
    late = sent(((SPAM, f"c{i}") for i in reversed(range(N))), step=-1.0)
    assert len(burst(late, SPAM, N)) == N


def test_review_is_due_once_per_window() -> None:
    state = sent((SPAM, f"c{i}") for i in range(N))
    assert review_due(state, 1_004.0, WINDOW)
    state["reviewed_at"] = 1_004.0
    more = observe(state, Activity("e9", "c9", SPAM, False, 1_010.0), threshold=N, window_s=WINDOW)
    assert burst(more, SPAM, N) and not review_due(more, 1_010.0, WINDOW)
    assert review_due(more, 1_064.0, WINDOW)


def test_counts_messages_conversations_and_contact_share() -> None:
    state: dict[str, Any] = {}
    for i in range(30):
        activity = Activity(f"e{i}", f"c{i % 10}", SPAM, i % 3 == 0, 1_000.0 + i)
        state = observe(state, activity, threshold=N, window_s=WINDOW)
    counts = behaviour(state, WINDOW)
    assert (counts.messages, counts.conversations, counts.contact_share) == (30, 10, 0.3333)
    assert counts.per_minute == 30.0
    # two windows later, only the new message counts
    later = observe(state, Activity("x", "cx", "", False, 1_200.0), threshold=N, window_s=WINDOW)
    assert behaviour(later, WINDOW).messages == 1
    assert behaviour(later, WINDOW).conversations == 1 and later["texts"] == {}


def test_a_flood_from_one_account_keeps_its_state_bounded() -> None:
    state: dict[str, Any] = {}
    sizes = []
    for i in range(5_000):
        # 16 texts in turn, each to new conversations, then every message a new text; UUID ids
        text = f"{i % TEXTS_KEPT:016x}" if i < 2_500 else f"{i:016x}"
        event_id = str(uuid.UUID(int=i))
        activity = Activity(event_id, f"conversation-{i}", text, True, 1_000.0 + i / 100)
        state = observe(state, activity, threshold=N, window_s=WINDOW)
        sizes.append(len(orjson.dumps(state)))
    assert len(state["texts"]) <= TEXTS_KEPT
    assert all(len(convs) <= N for convs in state["texts"].values())
    assert len(state["conversations"]) == CONVERSATIONS_KEPT
    assert max(sizes) < 12_000, max(sizes)  # the bound docs/operations.md states
    assert max(sizes[1_000:]) <= 1.05 * max(sizes[:1_000])  # stopped growing long ago
    print(f"\nstate of a flooding account: {max(sizes)} bytes of JSON at most")
    assert behaviour(state, WINDOW).messages == 5_000


def test_records_each_older_than_the_last_keep_the_buckets_bounded() -> None:
    """A record's time is only capped at now. Each one older than the last added a bucket that
    nothing dropped: 20,000 records made 20,000 buckets, each update slower than the last, and
    times like -1e300 made 301-digit keys (3,500 of them a 1 MB state)."""
    state: dict[str, Any] = {}
    for i in range(2_000):
        at = 1e9 - i * WINDOW if i % 2 else -1e300 + i
        activity = Activity(f"e{i}", "c", "", False, at)
        state = observe(state, activity, threshold=N, window_s=WINDOW)
    assert len(state["buckets"]) <= 7
    assert len(orjson.dumps(state)) < 4_000


def test_sender_entries_take_the_contacts_scoring_found_and_search_only_the_rest() -> None:
    texts = [
        "add me on 138 0013 8000 for the details",  # scoring found no token in it (planted)
        "call 139 0013 9000 for the details",  # not in the map: searched here
        "see you at the gym at seven",  # cannot hold one, by its analysis
    ]
    events = [decode_chat(f"e{i}", text) for i, text in enumerate(texts)]
    memo = {text: analyse(text) for text in texts}
    planted = extract_contacts("nothing to see here")
    entries = activities(events, memo, {texts[0]: planted})
    assert [entry[4] if entry else None for entry in entries] == [False, True, False]
    assert [entry[4] if entry else None for entry in activities(events, memo)] == [
        True,
        True,
        False,
    ]


def test_records_carry_each_account_to_one_partition_in_one_record_per_partition() -> None:
    messages: list[Any] = [(f"e{i}", f"acct-{i % 40}", f"c{i}", SPAM, False) for i in range(400)]
    messages[7] = None  # a post: no conversation
    records = activity_records(messages, [""] * 400, 8, 1_000.0)
    assert len(records) <= 8
    counted = 0
    for index, key, value in records:
        record = orjson.loads(value)
        assert record["kind"] == "sender_activity" and messages[index] == tuple(
            record["messages"][0]
        )
        partitions = {(murmur2(m[1].encode()) & 0x7FFFFFFF) % 8 for m in record["messages"]}
        assert partitions == {(murmur2(key) & 0x7FFFFFFF) % 8}
        counted += len(record["messages"])
    assert counted == 399
    # under exactly-once, also one record per source partition
    assert len(activity_records(messages, [i % 2 for i in range(400)], 8, 1.0)) > len(records)


def test_the_review_action_names_spam_the_reason_and_the_evidence() -> None:
    state = sent((SPAM, f"c{i}") for i in range(N))
    evidence, counts = burst(state, SPAM, N), behaviour(state, WINDOW)
    action = review_action("acct-1", evidence, counts, N, WINDOW, 1_004.0, 1_010.0)
    assert action.action == "review_account" and action.categories == {"spam": 1.0}
    assert action.reason == reason(N, WINDOW) == "same text to 5 conversations within 60 s"
    assert action.evidence == tuple(f"e{i}" for i in range(N))
    assert action.sender["conversations"] == N and action.window_start == 960.0
    assert_valid("account_action", action)
    # the same burst counted again an hour later (its records re-sent) is the same action
    again = review_action("acct-1", evidence, counts, N, WINDOW, 1_004.0, 4_610.0)
    assert again.action_id == action.action_id


async def test_the_pipeline_sends_chat_messages_by_account_only_when_switched_on(
    default_model_registry: ModelRegistry,
) -> None:
    batch = [
        RawMessage(topics.CHAT_MESSAGES, 0, i, b"k", chat(f"m{i}", "加V信 a8k9 领取红包，日结300"))
        for i in range(3)
    ]
    batch.append(
        RawMessage(topics.CHAT_MESSAGES, 0, 3, b"k", chat("link", "see https://example.com now"))
    )
    pipeline = _pipeline(default_model_registry, {"CHATGUARD_SENDERS": "on"})
    await pipeline.moderate(batch)
    records = _sent(pipeline, topics.SENDER_ACTIVITY)
    messages = {m[0]: m for r in records for m in r["messages"]}
    assert set(messages) == {"m0", "m1", "m2", "link"}
    assert messages["m0"][1:] == ["acct-m0", "c1", SPAM, False]
    assert messages["link"][4] is True
    for record in records:
        assert_valid("sender_activity", record)
    off = _pipeline(default_model_registry, {})
    await off.moderate(batch)
    assert _sent(off, topics.SENDER_ACTIVITY) == [] and _sent(off, topics.DECISIONS)


def _sent(pipeline: ModerationPipeline, topic: str) -> list[dict[str, Any]]:
    assert isinstance(pipeline.sink, Sink)
    return [
        orjson.loads(r.value)
        for r in pipeline.sink.sent
        if r.topic == pipeline.settings.topic(topic)
    ]


def test_settings_are_validated() -> None:
    settings = Settings.from_env({})
    assert (settings.senders, settings.sender_conversations, settings.sender_window_s) == (
        False,
        5,
        60.0,
    )
    assert Settings.from_env({"CHATGUARD_SENDERS": "on"}).senders
    with pytest.raises(SettingsError, match="sender_conversations=1"):
        Settings.from_env({"CHATGUARD_SENDER_CONVERSATIONS": "1"})
    with pytest.raises(SettingsError, match="sender_window_s=0"):
        Settings.from_env({"CHATGUARD_SENDER_WINDOW_S": "0"})
