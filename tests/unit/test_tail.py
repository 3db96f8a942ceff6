"""``chatguard tail`` on whatever a topic holds: every record gets a line, none ends the tail,
and no text from a topic reaches the terminal with its control characters."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace
from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatguard.settings import Settings
from devtools import tail as tail_module
from devtools.tail import describe, format_record, printable

# what no printed line may contain raw: C0, DEL, C1, bidi controls, line/paragraph separators,
# and characters that print as nothing
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u061c\u200b\u200c\u200e\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\U000e0000-\U000e007f]"
)


def decision(**fields: Any) -> bytes:
    record = {
        "action": "allow",
        "scores": {"spam": 0.1},
        "account_id": "x",
        "model_version": "v",
        "excerpt": "fine",
    }
    return orjson.dumps({**record, **fields})


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "tombstone"),
        (b"not json", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"action":"allow","scores":{"a":NaN}}', "not JSON"),
        (b"[1,2,3]", "not a JSON object but list"),
        (b'"hello"', "not a JSON object but str"),
        (b"42", "not a JSON object but int"),
        (b"null", "not a JSON object but NoneType"),
        (orjson.dumps({"action_id": "a", "action": 5, "account_id": "x", "strikes": 1}), "action"),
        (orjson.dumps({"action_id": "a", "action": "restrict", "strikes": "x"}), "account_id"),
        (orjson.dumps({"action_id": "a", "action": "restrict", "account_id": "x"}), "strikes"),
        (orjson.dumps({"action": "review_account", "account_id": "x", "reports": 3}), "reports"),
        (decision(scores=[1, 2]), "scores"),
        (decision(scores={"a": "x", "b": "y"}), "a is not a number"),
        (decision(scores={"a": True}), "a is not a number"),
        (decision(excerpt=5), "excerpt"),
        (decision(triggered=5), "triggered"),
        (decision(triggered=[1]), "triggered"),
        (decision(account_id=None), "account_id"),
        (decision(action=["allow"]), "action"),
        (orjson.dumps({"error_kind": "x", "error": "e", "raw": [1]}), "raw"),
        (orjson.dumps({"error_kind": "x", "error": None}), "error"),
        (orjson.dumps({"error_kind": "x", "error": "e", "raw": "abc"}), "base64"),
        (orjson.dumps({"reliability": 0.5, "reporter_id": "r", "reports": "3"}), "reports"),
        (orjson.dumps({"worker": "w", "version": 7}), "version"),
    ],
)
def test_a_record_tail_cannot_show_gets_a_note_with_its_offset_and_why(
    value: bytes | None, why: str
) -> None:
    line = describe("moderation.decisions", 2, 417, value)
    assert line.startswith("??      moderation.decisions[2]@417: cannot show it:")
    assert why in line


def test_the_records_tail_shows_read_as_before_and_why_a_message_was_flagged() -> None:
    assert describe("d", 0, 0, decision(scores={"spam": 0.1, "fraud": 0.7})) == (
        'ALLOW   -                fraud=0.70 spam=0.10         acct=x            model=v  "fine"'
    )
    blocked = decision(
        action="block",
        triggered=["fraud"],
        scores={"fraud": 0.97},
        reasons=["fraud 0.970 >= block 0.948", "campaign:c-1 harmful"],
    )
    assert describe("d", 0, 0, blocked) == (
        "BLOCK   fraud            fraud=0.97                   acct=x            model=v  "
        '"fine"  why: fraud 0.970 >= block 0.948; campaign:c-1 harmful'
    )
    dead = {"error_kind": "invalid_utf8", "error": "not UTF-8", "raw": "/w=="}
    assert describe("d", 0, 0, orjson.dumps(dead)) == (
        "DEAD    invalid_utf8    not UTF-8  raw=b'\\xff'"
    )
    action = {"action_id": "a", "action": "restrict", "account_id": "acct-5", "strikes": 3}
    assert describe("d", 0, 0, orjson.dumps({**action, "evidence": ["e1", "e2"]})) == (
        "ACCOUNT RESTRICT acct-5  strikes=3.0  evidence=2 events"
    )
    stats = {"reporter_id": "r", "reports": 3, "confirmed": 2, "rejected": 1, "reliability": 0.6}
    assert describe("d", 0, 0, orjson.dumps(stats)) == (
        "REPORTER r  reports=3  confirmed=2  rejected=1  reliability=0.60"
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "\x1b]0;PWNED\x07",  # sets the window title
        "\x1b[2J\x1b[31mred",  # clears the screen, colours
        "\r\x1b[Kfake line",  # overwrites the line
        "a\nALLOW   fake decision",  # a line of its own
        "\x9b2J",  # C1 CSI
        "\x7f\x08",  # DEL, backspace
        "evil\u202etxt.exe",  # right-to-left override
        "\u2066isolate\u2069\u200f",
        "line\u2028separator",
    ],
)
@pytest.mark.parametrize("field", ["account_id", "excerpt", "model_version", "action"])
def test_text_from_a_topic_reaches_the_terminal_with_control_characters_escaped(
    hostile: str, field: str
) -> None:
    line = describe("d", 0, 0, decision(**{field: hostile}))
    assert not UNSAFE.search(line) and "\n" not in line
    shown = {"action": hostile.upper(), "excerpt": hostile.replace("\n", " ")}
    assert printable(shown.get(field, hostile)) in line  # escaped, not dropped


def test_dead_letters_and_account_actions_are_escaped_too() -> None:
    dead = {"error_kind": "bad\x1b[2J", "error": "quoting \x1b]0;x\x07 the input", "raw": ""}
    action = {"action_id": "a", "action": "restrict\r", "account_id": "\x1b[31m", "strikes": 1}
    for record in (dead, action):
        line = describe("d", 0, 0, orjson.dumps(record))
        assert not UNSAFE.search(line) and "\\x1b" in line


def test_printable_escapes_for_text_and_for_json() -> None:
    assert printable("a\x1bb\u202ec\x9b") == "a\\x1bb\\u202ec\\x9b"
    assert printable("ok 你好 ❄️") == "ok 你好 ❄️"
    text = orjson.dumps({"a": "x\x7f\x9b\u202e"}).decode()
    escaped = printable(text, json=True)
    assert not UNSAFE.search(escaped)
    assert orjson.loads(escaped) == {"a": "x\x7f\x9b\u202e"}


def test_printable_shows_the_characters_that_print_as_nothing() -> None:
    """What an abuser hides from the model, a moderator sees; emoji keep their joiners."""
    assert printable("s\u200bupport\ufeff\xad") == "s\\u200bupport\\ufeff\\xad"
    assert printable("tag\U000e0041") == "tag\\U000e0041"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f"
    assert printable(family) == family
    hidden = {"t": "a\u200bb\u2060c\U000e0041\u3164"}
    escaped = printable(orjson.dumps(hidden).decode(), json=True)
    assert "\\ud" in escaped and not UNSAFE.search(escaped)
    assert orjson.loads(escaped) == hidden


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "action",
        "action_id",
        "account_id",
        "scores",
        "triggered",
        "excerpt",
        "model_version",
        "error_kind",
        "error",
        "raw",
        "reports",
        "reporters",
        "report_score",
        "evidence",
        "strikes",
        "reliability",
        "reporter_id",
        "confirmed",
        "rejected",
        "worker",
        "version",
        "rules_version",
    ]
)


@given(st.dictionaries(FIELDS, JSON | st.just("review_account"), max_size=10) | JSON)
def test_any_json_on_a_topic_gets_one_safe_line(record: Any) -> None:
    try:
        value = orjson.dumps(record)
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers orjson does not write
        return
    line = describe("d", 0, 7, value)
    assert isinstance(line, str) and "\n" not in line and not UNSAFE.search(line)


class FakeConsumer:
    """Just enough of aiokafka's consumer for ``tail``: one partition holding ``values``."""

    values: ClassVar[list[bytes | None]] = []

    def __init__(self, **options: Any) -> None:
        self.given = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, partitions: list[Any]) -> None:
        self.tp = partitions[0]

    async def seek_to_beginning(self, *partitions: Any) -> None:
        pass

    async def getmany(self, timeout_ms: int) -> dict[Any, list[Any]]:
        if self.given:
            return {}
        self.given = True
        messages = [SimpleNamespace(offset=i, value=v) for i, v in enumerate(self.values)]
        return {self.tp: messages}


async def test_tail_goes_on_past_records_it_cannot_show(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiokafka

    FakeConsumer.values = [
        None,
        b"[1,2,3]",
        orjson.dumps({"action_id": "a", "action": 5, "account_id": "x", "strikes": 1}),
        decision(scores=[1, 2]),
        decision(excerpt=5),
        decision(account_id="\x1b]0;PWNED\x07"),
        decision(),
    ]
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", FakeConsumer)
    out = io.StringIO()
    settings = Settings.from_env({})
    seen = await tail_module.tail(
        settings, ["moderation.decisions"], from_beginning=True, count=7, timeout=5, out=out
    )
    lines = out.getvalue().splitlines()
    assert seen == 7 and len(lines) == 7
    assert [line[:2] for line in lines] == ["??"] * 5 + ["AL", "AL"]
    assert "@0: cannot show it: a tombstone" in lines[0]
    assert "\\x1b]0;PWNED\\x07" in lines[5] and not UNSAFE.search(out.getvalue().replace("\n", ""))


def test_format_record_still_takes_a_record() -> None:
    assert format_record("model.updates", {"worker": "h:1", "version": "m3"}) == (
        "MODEL   h:1 now serves m3"
    )
