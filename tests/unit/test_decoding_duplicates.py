"""A field given twice in one event is a dead letter: parsers differ on which copy counts, so the
text moderated could be another than the text a first-wins reader shows."""

from __future__ import annotations

import pytest

from streams.decoding import MAX_CONTAINERS, Event, Rejected, decode
from tests.unit.test_decoding_surrogates import LIMITS, _best_of_three, _chat_json

HEAD = (
    '{"type": "chat.message", "event_id": "e1", "conversation_id": "c1", "sender_id": "s1", '
    '"sent_at": 1.0, '
)


def _decode(body: str, topic: str = "chat.messages") -> Event | Rejected:
    return decode((HEAD + body + "}").encode(), topic, **LIMITS)


@pytest.mark.parametrize(
    "body",
    [
        # orjson keeps the last copy: the greeting was moderated, a first-wins reader shows the scam
        '"text": "加微信 a8k9 领红包", "text": "see you at 7"',
        '"text": "see you at 7", "text": "加微信 a8k9 领红包"',
        r'"text": "加微信 a8k9 领红包", "t\u0065xt": "see you at 7"',  # the same key, escaped
        '"text": "hi", "sender_id": "s2"',  # whose message it is
        '"text": "hi", "type": "chat.message"',
        '"text": "hi", "event_id": "e2"',
    ],
)
def test_a_field_given_twice_is_a_dead_letter_naming_it(body: str) -> None:
    rejected = _decode(body)
    assert isinstance(rejected, Rejected), rejected
    assert rejected.kind == "duplicate_field"
    assert "given 2 times" in rejected.error


@pytest.mark.parametrize(
    "body",
    [
        r'"text": "he wrote \"text\": \"x\", \"text\": \"y\" to me"',  # quoted keys in the text
        '"text": "hi", "extra": {"text": 1, "inner": {"text": 2}}',  # the same name deeper down
        r'"text": "caf\u00e9 at 7"',  # an escape in a value, not in a key
    ],
)
def test_the_same_name_in_a_string_or_deeper_down_is_no_duplicate(body: str) -> None:
    assert isinstance(_decode(body), Event)


def test_a_post_whose_title_is_given_twice_is_refused_too() -> None:
    post = (
        '{"type": "post", "event_id": "p1", "account_id": "a1", "account_type": "personal", '
        '"post_kind": "moment", "title": "加V领红包", "title": "hello", "text": "x", '
        '"created_at": 1.0}'
    )
    rejected = decode(post.encode(), "posts", **LIMITS)
    assert isinstance(rejected, Rejected) and rejected.kind == "duplicate_field"


def test_looking_for_duplicates_keeps_a_big_event_cheap_to_read() -> None:
    """The worst case: a megabyte holding the most objects allowed, each with a key named like a
    field, so every one is a candidate and Python's parser reads the event again (about 8x the
    same event without them here, 4 ms to 32 ms on the event loop; 37x and 119 ms while the
    garbage collector ran during that parse, in a process that had run nothing else first)."""
    objects = ",".join(['{"text": 1}'] * (MAX_CONTAINERS - 5))
    crowded = _chat_json("hi")[:-1] + f', "junk": [{objects}]}}'.encode()
    plain = _chat_json("hi")[:-1] + f', "junk": "{"x" * len(objects)}"}}'.encode()
    assert len(crowded) == len(plain) < LIMITS["max_event_bytes"]
    assert isinstance(decode(crowded, "chat.messages", **LIMITS), Event)
    ratio = _best_of_three(crowded) / _best_of_three(plain)
    assert ratio < 15, f"{ratio:.1f}x the same event without them"
