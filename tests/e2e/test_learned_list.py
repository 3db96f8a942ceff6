"""The learned list on a live fleet: a contact token in blocked spam from several accounts blocks
new wording on every worker, and stops once a moderator removes it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from chatguard.cli import main as chatguard_main
from chatguard.settings import Settings
from streams import topics
from streams.fleet_signing import HEADER, FleetSigner, mac
from streams.outgoing import OutgoingEvent
from streams.records import LearnedContact
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import consume, produce, produce_signed, produce_with_headers
from tests.e2e.test_rules import RULES_V1, TERM, _announcements, _decisions, _use_env

pytestmark = pytest.mark.e2e

LEARN_ENV = {"CHATGUARD_LEARN_MIN_EVENTS": "3", "CHATGUARD_LEARN_MIN_ACCOUNTS": "3"}


def _chat(tag: str, i: int, sender: str, text: str) -> OutgoingEvent:
    event_id = f"{tag}-{i}"
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": f"c{i}",
        "sender_id": sender,
        "text": text,
        "sent_at": time.time(),
    }
    return OutgoingEvent("chat.messages", event_id.encode(), orjson.dumps(data), event_id, "valid")


def _learned_hits(worker: WorkerProcess) -> float:
    _, body = worker.get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith("chatguard_learned_hits_total "):
            return float(line.split()[1])
    return 0.0


def test_a_token_from_blocked_spam_of_several_accounts_blocks_new_wording_until_removed(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _use_env(monkeypatch, {**stream_env, **LEARN_ENV})
    (tmp_path / "v1.yaml").write_text(RULES_V1)
    assert chatguard_main(["rules", "publish", str(tmp_path / "v1.yaml")]) == 0
    workers = [start_worker(env=LEARN_ENV), start_worker(env=LEARN_ENV)]
    for worker in workers:
        worker.wait_ready()
    domain = f"scam{uuid.uuid4().hex[:8]}.top"

    # three accounts send spam the rule blocks, each carrying the same new domain
    spam = [_chat("spam", i, f"spammer-{i}", f"{TERM} deal {i} at {domain}") for i in range(3)]
    produce(stream_settings, spam)
    for worker in workers:  # counted once, fleet-wide; every worker learns it
        worker.wait_for_log(f"learned domains {domain}", timeout=60)

    # new wording the model allows, from accounts never seen, spread over both workers
    later = [
        _chat("later", i, f"user-{i}", f"see you at lunch, menu at {domain}") for i in range(16)
    ]
    produce(stream_settings, later)
    records = consume(
        stream_settings,
        ["moderation.decisions"],
        until=lambda rs: len({d["event_id"] for d in _decisions(rs, stream_settings)}) >= 19,
        timeout=60,
    )
    decided = {d["event_id"]: d for d in _decisions(records, stream_settings)}
    for i in range(16):
        decision = decided[f"later-{i}"]
        assert decision["action"] == "block", decision
        assert f"learned:{domain}" in decision["reasons"], decision
    assert all(_learned_hits(worker) > 0 for worker in workers), "one worker blocked them all"

    # an innocent account naming the token is blocked but not struck: three such blocks used to
    # restrict it. Three blocks the rule makes afterwards are what restricts it, and all the
    # evidence is theirs.
    innocent = f"innocent-{uuid.uuid4().hex[:6]}"
    named = [_chat("named", i, innocent, f"lunch menu at {domain}") for i in range(3)]
    produce(stream_settings, named)
    struck = [_chat("struck", i, innocent, f"{TERM} offer {i}") for i in range(3)]
    produce(stream_settings, struck)
    records = consume(
        stream_settings,
        ["moderation.decisions", "account.actions"],
        until=lambda rs: any(
            r.topic == stream_settings.topic("account.actions")
            and r.json()["account_id"] == innocent
            for r in rs
        ),
        timeout=90,
    )
    decided = {d["event_id"]: d for d in _decisions(records, stream_settings)}
    assert all(decided[f"named-{i}"]["action"] == "block" for i in range(3))
    [action] = [
        r.json()
        for r in records
        if r.topic == stream_settings.topic("account.actions")
        and r.json()["account_id"] == innocent
    ]
    assert action["action"] == "restrict", action
    assert sorted(action["evidence"]) == [f"struck-{i}" for i in range(3)], action

    # a moderator removes it: a signed rules version; afterwards the token no longer blocks
    capsys.readouterr()
    assert chatguard_main(["rules", "unpin", domain]) == 0
    version = capsys.readouterr().out.split("published rules ")[1].strip()
    _announcements(stream_settings, version, workers=2, timeout=60)
    after = [
        _chat("after", i, f"user-{i}", f"see you at lunch, menu at {domain}") for i in range(6)
    ]
    produce(stream_settings, after)
    records = consume(
        stream_settings,
        ["moderation.decisions"],
        until=lambda rs: (
            {f"after-{i}" for i in range(6)}
            <= {d["event_id"] for d in _decisions(rs, stream_settings)}
        ),
        timeout=60,
    )
    for decision in _decisions(records, stream_settings):
        if decision["event_id"].startswith("after-"):
            assert decision["rules_version"] == version
            assert decision["action"] != "block", decision  # the model alone: review at most
            assert not any(r.startswith("learned:") for r in decision["reasons"]), decision
    assert chatguard_main(["rules", "show"]) == 0
    shown = capsys.readouterr().out
    assert f"removed ['{domain}']" in shown and f"{domain}" in shown and "removed " in shown


def test_evidence_spread_over_a_windows_end_teaches_the_token(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """Blocked events of a token from two accounts just before a learn window ends and from a
    third just after: three accounts within the window, so the fleet learns it (counted per
    window alone, neither window had enough)."""
    settings = stream_settings
    worker = start_worker(env=LEARN_ENV)
    worker.wait_ready()
    window = settings.learn_window_s
    boundary = (time.time() // window) * window  # the start of the current window
    token = f"edge{uuid.uuid4().hex[:8]}"

    def blocked(i: int, at: float) -> tuple[None, bytes, bytes]:
        value = {
            "kind": "blocked_contact",
            "token": token,
            "token_kind": "wechat",
            "account_id": f"edge-acct-{i}",
            "event_id": f"edge-{i}",
            "category": "fraud",
            "at": at,
        }
        return None, token.encode(), orjson.dumps(value)

    evidence = topics.CONTACTS_BLOCKED
    produce_signed(
        settings, evidence, [blocked(0, boundary - 20), blocked(1, boundary - 10)], boundary - 20
    )
    produce_signed(settings, evidence, [blocked(2, boundary)], boundary)
    records = consume(
        settings,
        [topics.LEARNED],
        until=lambda rs: any(r.key == token.encode() for r in rs),
        timeout=90,
    )
    learned = [r.json() for r in records if r.key == token.encode()]
    assert learned, f"{token} was not learned"
    assert learned[0]["accounts"] == 3, learned[0]


def _metric(worker: WorkerProcess, name: str) -> float:
    _, body = worker.get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def test_new_tokens_past_the_budget_are_not_counted_and_known_ones_still_are(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """Blocked messages naming made-up numbers made a worker keep every one for hours (about
    0.5 KB each, in memory). With a budget of 3 new tokens per window: a token taught by three
    accounts uses one; of 20 new tokens in one message, 2 are counted and 18 dropped; a new
    token three accounts then name is dropped too (not learned), and the warning is logged
    once."""
    settings = stream_settings
    # a window of decades: the budget must not start again during the test
    env = {**LEARN_ENV, "CHATGUARD_LEARN_MAX_TOKENS": "3", "CHATGUARD_LEARN_WINDOW_S": "1e9"}
    worker = start_worker(env=env)
    worker.wait_ready()
    tag = uuid.uuid4().hex[:8]

    def blocked(token: str, account: str) -> tuple[None, bytes, bytes]:
        value = {
            "kind": "blocked_contact",
            "token": token,
            "token_kind": "domains",
            "account_id": account,
            "event_id": f"{token}-{account}",
            "category": "spam",
            "at": time.time(),
        }
        return None, token.encode(), orjson.dumps(value)

    evidence = topics.CONTACTS_BLOCKED
    known = f"known{tag}.top"
    produce_signed(settings, evidence, [blocked(known, f"a{i}") for i in range(3)], time.time())
    worker.wait_for_log(f"learned domains {known}", timeout=60)

    made_up = [blocked(f"made{i}{tag}.top", "flooder") for i in range(20)]
    produce_signed(settings, evidence, made_up, time.time())
    late = f"late{tag}.top"
    produce_signed(settings, evidence, [blocked(late, f"b{i}") for i in range(3)], time.time())
    dropped = "chatguard_learn_evidence_dropped_total"
    deadline = time.monotonic() + 90
    while _metric(worker, dropped) < 21 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _metric(worker, dropped) == 21
    log = worker.log_path.read_text(errors="replace")
    assert log.count("evidence for more new ones is dropped") == 1
    assert late not in log and worker.returncode is None


def test_a_learned_record_without_the_fleet_signature_blocks_nothing(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """A learned record blocks every message naming its token, so a forged one could silence a
    bank's hotline or a shop's site. Workers follow only records with the fleet's signature:
    the signed record blocks an ordinary message naming its domain (the control), the forged
    one does not."""
    settings = stream_settings
    worker = start_worker()
    worker.wait_ready()
    topic = settings.topic(topics.LEARNED)
    secret = FleetSigner.for_settings(settings).secret
    assert secret is not None

    def learned(domain: str) -> tuple[bytes, bytes]:
        record = LearnedContact.teach(domain, "domains", "fraud", (9, 9), time.time(), 3_600.0)
        return domain.encode(), orjson.dumps(record)

    forged_key, forged = learned("quietgarden-cafe.com")
    signed_key, signed = learned("brightharbour-books.com")
    signature = [(HEADER, mac(secret, topic, signed_key, signed))]
    produce_with_headers(
        settings, topic, [(forged_key, forged, []), (signed_key, signed, signature)]
    )
    worker.wait_for_log("learned domains brightharbour-books.com", timeout=60)
    worker.wait_for_log(f"reading {topic}: refused offset", timeout=60)

    texts = {
        "forged-0": "the menu is on quietgarden-cafe.com if you want to look before we go",
        "signed-1": "they list the opening hours on brightharbour-books.com, shall we go sat?",
    }
    events = [_chat(tag, 0, f"acct-{tag}", text) for tag, text in texts.items()]
    produce(settings, events)
    ids = {f"{tag}-0" for tag in texts}
    records = consume(
        settings,
        [topics.DECISIONS],
        until=lambda rs: ids <= {r.json()["event_id"] for r in rs},
        timeout=90,
    )
    decided = {r.json()["event_id"]: r.json() for r in records}
    assert decided["signed-1-0"]["action"] == "block"
    assert "learned:brightharbour-books.com" in decided["signed-1-0"]["reasons"]
    assert decided["forged-0-0"]["action"] == "allow", decided["forged-0-0"]
