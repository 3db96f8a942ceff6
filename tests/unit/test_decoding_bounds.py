"""Size limits on ids and short fields, reports and labels validated, strike signals validated."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.decoding import (
    MAX_CONTAINERS,
    Event,
    Rejected,
    check_categories,
    decode,
    decode_strike,
)
from streams.fleet_signing import FleetSigner, internal_record
from streams.pipeline import RawMessage

LIMITS = {"max_event_bytes": 1_048_576, "max_text_chars": 20_000, "max_id_chars": 256}


def _chat(**fields: Any) -> bytes:
    data = {
        "type": "chat.message",
        "event_id": "e1",
        "conversation_id": "c1",
        "sender_id": "s1",
        "text": "hello",
        "sent_at": 1.0,
        **fields,
    }
    return orjson.dumps(data)


def _report(**fields: Any) -> bytes:
    data = {
        "type": "user.report",
        "report_id": "r1",
        "reporter_id": "u1",
        "event_id": "e1",
        "account_id": "a1",
        "reason": "fraud",
        "reported_at": 1.0,
        **fields,
    }
    return orjson.dumps(data)


def _label(**fields: Any) -> bytes:
    data = {
        "type": "moderator.label",
        "event_id": "e1",
        "text": "buy now",
        "categories": ["spam"],
        "moderator_id": "m1",
        "labelled_at": 1.0,
        **fields,
    }
    return orjson.dumps(data)


@pytest.mark.parametrize(
    ("raw", "topic", "kind", "field"),
    [
        (_chat(sender_id="s" * 700_000), "chat.messages", "oversize_id", "sender_id"),
        (_chat(event_id="e" * 600_000), "chat.messages", "oversize_id", "event_id"),
        (_chat(conversation_id="c" * 257), "chat.messages", "oversize_id", "conversation_id"),
        (_report(report_id="r" * 300), "user.reports", "oversize_id", "report_id"),
        (_report(reason="x" * 5_000), "user.reports", "oversize_field", "reason"),
        (_label(moderator_id="m" * 300), "moderator.labels", "oversize_id", "moderator_id"),
    ],
)
def test_an_over_long_id_or_short_field_is_rejected_compactly(
    raw: bytes, topic: str, kind: str, field: str
) -> None:
    result = decode(raw, topic, **LIMITS)
    assert isinstance(result, Rejected)
    assert result.kind == kind and field in result.error
    assert len(result.error) < 200  # the size is recorded, the value is not
    assert result.event_id is None or len(result.event_id) <= 256


def test_ids_at_the_limit_are_accepted() -> None:
    result = decode(_chat(event_id="e" * 256, sender_id="s" * 256), "chat.messages", **LIMITS)
    assert isinstance(result, Event) and result.account_id == "s" * 256


def test_a_report_with_a_numeric_text_is_a_report() -> None:
    """A report's schema has no text; a stray one is ignored instead of crashing the agent."""
    result = decode(_report(text=123), "user.reports", **LIMITS)
    assert isinstance(result, Event) and result.text == ""


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (_report(reporter_id=7), "wrong_type"),
        (_report(account_id=5), "wrong_type"),
        (_report(reported_at=True), "wrong_type"),
        (orjson.dumps({"type": "user.report", "report_id": "r"}), "missing_field"),
        (_report(type="x" * 100_000), "unknown_type"),
    ],
)
def test_bad_reports_are_rejected(raw: bytes, kind: str) -> None:
    result = decode(raw, "user.reports", **LIMITS)
    assert isinstance(result, Rejected) and result.kind == kind
    assert len(result.error) < 300


def _post(**fields: Any) -> dict[str, Any]:
    return {
        "type": "post",
        "event_id": "p1",
        "account_id": "a1",
        "account_type": "personal",
        "post_kind": "moment",
        "created_at": 1.0,
        **fields,
    }


def test_a_posts_title_counts_toward_the_text_limit() -> None:
    result = decode(orjson.dumps(_post(title="t" * 20_000, text="body")), "posts", **LIMITS)
    assert isinstance(result, Rejected) and result.kind == "oversize_text"


@pytest.mark.parametrize("body", ["", " ", "\u3000", "\n\t"])
def test_a_post_with_a_blank_body_is_scored_on_its_title(body: str) -> None:
    """An image post has a title and no body; its dead letter let a spam title go unscored,
    and a blank body was a free way round the model. Blank everywhere is still a dead letter."""
    post = _post(title="加微信领取彩金", text=body)
    result = decode(orjson.dumps(post), "posts", **LIMITS)
    assert isinstance(result, Event) and result.text == "加微信领取彩金"
    blank = decode(orjson.dumps({**post, "title": " "}), "posts", **LIMITS)
    assert isinstance(blank, Rejected) and blank.kind == "empty_text"
    assert "title and text" in blank.error


def test_label_categories_must_be_in_the_taxonomy() -> None:
    known = ("spam", "fraud")
    good = decode(_label(categories=["spam"]), "moderator.labels", **LIMITS)
    typo = decode(_label(categories=["spam", "spma", "z" * 10_000]), "moderator.labels", **LIMITS)
    assert isinstance(good, Event) and isinstance(typo, Event)
    assert check_categories(good, known) is None
    rejected = check_categories(typo, known)
    assert rejected is not None and rejected.kind == "unknown_category"
    assert "spma" in rejected.error and len(rejected.error) < 400


def _strike(**fields: Any) -> dict[str, Any]:
    return {
        "signal_id": "block:e1",
        "kind": "block",
        "event_id": "e1",
        "account_id": "a1",
        "categories": ["fraud"],
        "weight": 1.0,
        "at": 1.0,
        **fields,
    }


def test_a_valid_strike_signal_is_returned() -> None:
    assert decode_strike(orjson.dumps(_strike()), b"a1", max_id_chars=256) == _strike()
    assert decode_strike(orjson.dumps(_strike()), None, max_id_chars=256) == _strike()
    reported = _strike(kind="report", reporter_id="r1", report_id="9")
    assert decode_strike(orjson.dumps(reported), b"a1", max_id_chars=256) == reported


def test_an_optional_field_that_is_null_is_read_as_absent() -> None:
    """The checks let a null optional field through as absent; what reads the signal next
    tested ``"at" in strike`` and called ``float(None)``, which stopped enforcement."""
    read = decode_strike(orjson.dumps(_strike(at=None, kind=None)), b"a1", max_id_chars=256)
    assert isinstance(read, dict) and "at" not in read and "kind" not in read


@pytest.mark.parametrize(
    ("raw", "key", "kind"),
    [
        (b"not json", b"a1", "malformed_json"),
        (None, b"a1", "empty_value"),
        (b"[1]", b"a1", "not_an_object"),
        (
            orjson.dumps({k: v for k, v in _strike().items() if k != "weight"}),
            b"a1",
            "missing_field",
        ),
        (orjson.dumps(_strike(weight="heavy")), b"a1", "wrong_type"),
        (orjson.dumps(_strike(weight=True)), b"a1", "wrong_type"),
        (orjson.dumps(_strike(weight=1e9)), b"a1", "invalid_value"),
        (orjson.dumps(_strike(weight=-1)), b"a1", "invalid_value"),
        (orjson.dumps(_strike(categories="fraud")), b"a1", "wrong_type"),
        (orjson.dumps(_strike(categories=[1])), b"a1", "wrong_type"),
        (orjson.dumps(_strike(categories=["c"] * 65)), b"a1", "invalid_value"),
        (orjson.dumps(_strike(categories=["c" * 300])), b"a1", "oversize_field"),
        (orjson.dumps(_strike(event_id="e" * 300)), b"a1", "oversize_id"),
        (orjson.dumps(_strike(account_id="")), b"", "invalid_value"),
        (orjson.dumps(_strike()), b"someone-else", "invalid_value"),
        (orjson.dumps(_strike(kind="report", report_id="1")), b"a1", "missing_field"),
        (
            orjson.dumps(_strike(kind="report", reporter_id=7, report_id="1")),
            b"a1",
            "missing_field",
        ),
        (
            orjson.dumps(_strike(kind="report", reporter_id="r" * 300, report_id="1")),
            b"a1",
            "oversize_field",
        ),
    ],
)
def test_forged_or_malformed_strike_signals_are_rejected(
    raw: bytes | None, key: bytes | None, kind: str
) -> None:
    result = decode_strike(raw, key, max_id_chars=256)
    assert isinstance(result, Rejected) and result.kind == kind, result


def test_a_record_of_too_many_arrays_and_objects_is_refused_before_it_is_parsed() -> None:
    """A 1 MB event of 333,000 empty lists in a field took 170 ms to parse on a worker's heap
    (the garbage collector walking it), against microseconds for an ordinary one. A text full
    of brackets within the text limit still decodes; more arrays and objects than
    ``MAX_CONTAINERS`` are an ``oversize_event`` dead letter, on every topic."""
    crowded = _chat(extra=[[] for _ in range(MAX_CONTAINERS)])
    found = decode(crowded, "chat.messages", **LIMITS)
    assert isinstance(found, Rejected) and found.kind == "oversize_event"
    assert "arrays and objects" in found.error
    strike = decode_strike(crowded, None, max_id_chars=256)
    assert isinstance(strike, Rejected) and strike.kind == "oversize_event"
    raw = RawMessage("p.account.strikes", 0, 0, None, crowded)
    internal = internal_record(raw, FleetSigner(None, ()))
    assert isinstance(internal, Rejected) and internal.kind == "oversize_event"
    brackets = decode(_chat(text="[{" * 10_000), "chat.messages", **LIMITS)
    assert isinstance(brackets, Event)
