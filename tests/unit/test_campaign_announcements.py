"""Campaign announcements as read from ``moderation.campaigns``: a worker refuses the ones with
unusable times or sizes, its book lapses every campaign whatever one bad entry holds, and
``chatguard campaigns`` lists the readable ones, escaped, with a note for the rest."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pytest

from models.campaigns import CampaignBook, parse_record
from streams.campaigns import CampaignHolder, live_campaigns
from streams.cli import print_campaigns

WINDOW = 60.0
NOW = 1_000_000.0
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def announcement(i: int, **fields: Any) -> dict[str, Any]:
    record = {
        "kind": "campaign",
        "campaign_id": f"cmp-{i:016x}",
        "band": f"{i:016x}",
        "bands": [f"{i:016x}"],
        "status": "harmful",
        "events": 3,
        "accounts": 3,
        "first_seen": NOW - 10,
        "last_seen": NOW,
        "contacts": [],
        "sample_event_id": "e",
    }
    return {**record, **fields}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("last_seen", "NaN"),
        ("last_seen", "inf"),
        ("last_seen", "yesterday"),
        ("last_seen", "1000"),
        ("last_seen", None),
        ("last_seen", True),
        ("last_seen", -1.0),
        ("last_seen", 1e300),
        ("last_seen", [NOW]),
        ("events", -1),
        ("events", 1.5),
        ("events", "40"),
        ("events", True),
        ("accounts", None),
        ("accounts", -3),
    ],
)
def test_a_worker_refuses_an_announcement_with_an_unusable_time_or_size(
    field: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=f"bad {field}"):
        parse_record(announcement(1, **{field: value}))
    holder = CampaignHolder(WINDOW)
    assert holder.offer(b"k", orjson.dumps(announcement(1, **{field: value})), NOW) is None
    assert len(holder.book) == 0


def test_a_nan_last_seen_is_refused_and_every_campaign_still_lapses() -> None:
    holder = CampaignHolder(WINDOW)
    holder.offer(b"k", orjson.dumps(announcement(0, last_seen="NaN")), NOW)
    for i in range(1, 2_001):
        holder.offer(b"k", orjson.dumps(announcement(i, last_seen=NOW + i)), NOW + i)
    holder.book.expire(NOW + 10_000 * WINDOW)
    assert len(holder.book) == 0


@pytest.mark.parametrize("bad", [math.nan, -math.inf])
def test_one_bad_expiry_in_a_book_stops_no_other_campaign_lapsing(bad: float) -> None:
    """The book on its own, given a value parse_record would refuse: its campaign is never
    served, and the others lapse on time."""
    book = CampaignBook(WINDOW)
    book.offer({**parse_record(announcement(0)), "last_seen": bad}, NOW)
    for i in range(1, 201):
        book.offer(parse_record(announcement(i, last_seen=NOW + i)), NOW + i)
    assert book.match([f"{0:016x}"], NOW + 300) is None
    book.expire(NOW + 10 * WINDOW + 1_000)
    assert len(book) == 0 and not book.by_band


def test_a_nan_expiry_on_top_of_the_heap_lapses_at_once() -> None:
    book = CampaignBook(WINDOW)
    book.offer(parse_record(announcement(1)), NOW)
    book._expiries.insert(0, (math.nan, "cmp-gone"))  # whatever put it there
    book.expire(NOW + 2 * WINDOW)
    assert len(book) == 0 and not book._expiries


HOSTILE = [
    announcement(1, first_seen="yesterday"),
    announcement(2, last_seen="NaN"),
    announcement(3, contacts=5),
    announcement(4, contacts=[[1]]),
    announcement(5, contacts="abc"),
    announcement(6, sample_event_id=5),
    announcement(7, events="many"),
]


def test_the_listing_leaves_out_what_it_cannot_read_and_lists_the_rest() -> None:
    records = [*HOSTILE, announcement(8, contacts=["evil.top"])]
    listed = live_campaigns(records, WINDOW, NOW)
    assert [(c["campaign_id"], c["contacts"]) for c in listed] == [(f"cmp-{8:016x}", ["evil.top"])]
    refused: list[str] = []
    live_campaigns(records, WINDOW, NOW, refused)
    assert len(refused) == len(HOSTILE)
    for note, what in zip(
        refused,
        [
            "first_seen",
            "last_seen",
            "contacts",
            "contacts",
            "contacts",
            "sample_event_id",
            "events",
        ],
        strict=True,
    ):
        assert f"bad {what}" in note


def test_chatguard_campaigns_prints_the_rest_escaped_and_a_note_for_each_left_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile_text = announcement(
        9,
        campaign_id="cmp-\x1b]0;PWNED\x07",
        contacts=["a\u202eb", "\x9b2J"],
        sample_event_id="\r\x1b[2Kfake",
    )
    records = [*HOSTILE, hostile_text]
    assert print_campaigns(records, WINDOW, as_json=False, now=NOW) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and "cmp-\\x1b]0;PWNED\\x07" in out and "a\\u202eb" in out
    assert len(err.splitlines()) == len(HOSTILE) and all(
        line.startswith("skipped campaign record") for line in err.splitlines()
    )
    assert not UNSAFE.search(out.replace("\n", "")) and not UNSAFE.search(err.replace("\n", ""))

    assert print_campaigns(records, WINDOW, as_json=True, now=NOW) == 0
    out, _ = capsys.readouterr()
    assert not UNSAFE.search(out.replace("\n", ""))
    listed = orjson.loads(out)
    assert listed["campaign_id"] == "cmp-\x1b]0;PWNED\x07"
    assert listed["contacts"] == ["a\u202eb", "\x9b2J"]
