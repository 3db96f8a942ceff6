"""Lists learned from enforcement: counting evidence, expiry, pins and removals, and their effect
on decisions."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import orjson
import pytest

from models.learned import (
    TOKENS_PER_EVENT,
    LearnedEntry,
    LearnedList,
    candidates,
    entry_from_record,
    learnable,
    observe,
    tokens_of,
)
from models.normalize import Analysis, remembered
from models.policy import Policy
from models.registry import ModelRegistry
from models.rules import Contacts, RulesError, contacts_of, extract_contacts, load_rules
from streams import learned_list
from streams.decide import Position, build_decisions
from streams.decoding import Event
from streams.learned_list import PRUNE_FROM, LearnedHolder, TokenBudget
from streams.model_holder import ServingModel
from streams.records import LearnedContact
from streams.rules_cli import edit_learned
from streams.rules_holder import apply_rules

SETTINGS: dict[str, Any] = {"window_s": 60.0, "min_events": 3, "min_accounts": 2}


def test_a_token_is_learned_after_enough_events_from_enough_accounts() -> None:
    state: dict = {}
    state, ready = observe(state, "a", 0.0, **SETTINGS)
    state, ready2 = observe(state, "a", 1.0, **SETTINGS)
    assert not ready and not ready2  # one account, however often, is not enough
    state, ready = observe(state, "b", 2.0, **SETTINGS)
    assert ready
    # events older than the window no longer count
    stale, ready = observe({"seen": [[0.0, "a"], [1.0, "b"]]}, "c", 100.0, **SETTINGS)
    assert not ready and len(stale["seen"]) == 1
    # nor do events a window older than the newest, in whatever order they arrive
    for at in (100.0, 50.0, 0.0):
        state, ready = observe(state if at < 100 else {}, f"x{at}", at, **SETTINGS)
    assert not ready and [entry[0] for entry in state["seen"]] == [50.0, 100.0]


def test_an_event_counts_once_however_often_its_record_arrives() -> None:
    """Three blocked events from two accounts, the third's record delivered three times: still
    three events, not five (a replay made 3 events 5 and taught a bank's domain)."""
    settings = {**SETTINGS, "min_events": 4}
    state: dict = {}
    for account, event_id, at in (("a", "e1", 0.0), ("b", "e2", 1.0)):
        state, ready = observe(state, account, at, event_id=event_id, **settings)
    for at in (2.0, 3.0, 4.0):
        state, ready = observe(state, "b", at, event_id="e3", **settings)
    assert not ready and len(state["seen"]) == 3
    # another account's event of the same id is another event; so is one with no id
    state, ready = observe(state, "a", 5.0, event_id="e3", **settings)
    assert ready and len(state["seen"]) == 4
    # a state written before events had ids still counts its entries
    old, ready = observe({"seen": [[0.0, "a"], [1.0, "b"]]}, "c", 2.0, event_id="e9", **SETTINGS)
    assert ready and len(old["seen"]) == 3


def _entry(token: str, expires_at: float | None) -> LearnedEntry:
    return LearnedEntry(token, "domains", "fraud", 0.0, expires_at)


def test_an_entry_blocks_its_token_and_subdomains_until_it_expires() -> None:
    learned = LearnedList([_entry("evil-pay.top", 100.0), _entry("13800138000", 100.0)])
    carried = extract_contacts("new words, see pay.evil-pay.top and call 138 0013 8000")
    assert [e.token for e in learned.match(carried, 50.0)] == ["13800138000", "evil-pay.top"]
    assert learned.match(carried, 100.0) == []  # expired
    assert learned.match(extract_contacts("see not-evil-pay.top"), 50.0) == []


def test_pins_never_expire_and_removals_silence_learned_and_pinned_tokens() -> None:
    learned = LearnedList(
        [_entry("evil-pay.top", 10.0), _entry("other.top", 10.0)],
        pinned=["pinned.top", "gone.top"],
        removed=["other.top", "gone.top"],
    )
    assert {e.token for e in learned.active(1e12)} == {"pinned.top"}
    assert learned.match(extract_contacts("other.top gone.top"), 5.0) == []
    assert [e.token for e in learned.match(extract_contacts("pinned.top"), 1e12)] == ["pinned.top"]


def test_a_learned_record_is_validated_and_its_expiry_capped() -> None:
    learned = LearnedContact.teach("evil-pay.top", "domains", "fraud", (1, 1), 0.0, 60.0)
    record = dataclasses.asdict(learned)
    assert entry_from_record(record, 0.0, 60.0).expires_at == 60.0
    # a forged record asking for a century is cut to the TTL after the worker read it
    forged = {**record, "expires_at": 4e9}
    assert entry_from_record(forged, 1000.0, 60.0).expires_at == 1060.0
    bad: object
    # times no worker writes: -1e308 could not even be logged, and stopped the follower
    untimely = [{**record, "expires_at": -1e308}, {**record, "learned_at": 1e308}]
    for bad in (
        {**record, "token": "a b"},
        {**record, "token_kind": "urls"},
        {"kind": "x"},
        [],
        *untimely,
    ):
        with pytest.raises(ValueError):
            entry_from_record(bad, 0.0, 60.0)
    # the follower skips such a record and goes on
    assert LearnedHolder().offer(b"evil-pay.top", orjson.dumps(untimely[0]), 0.0) is None


def test_the_rules_file_pins_and_removes_tokens() -> None:
    ruleset = load_rules(
        "version: v\nrules: []\nlearned:\n  pin: [WWW.Evil-Pay.top, '+86 138-0013-8000']\n"
        "  remove: [good.com]\n"
    )
    assert ruleset.pinned == ("evil-pay.top", "8613800138000")
    assert ruleset.removed == ("good.com",)
    with pytest.raises(RulesError, match="not contact tokens"):
        load_rules("version: v\nrules: []\nlearned: {pin: ['a b c']}\n")
    with pytest.raises(RulesError, match="'learned' must be a mapping"):
        load_rules("version: v\nrules: []\nlearned: [x]\n")


def test_pin_and_unpin_republish_the_file_under_a_new_version() -> None:
    text = "version: v1\nrules:\n- {id: x, category: spam, match: {terms: [abc]}, effect: block}\n"
    pinned = load_rules(edit_learned(text, "evil.top", pin=True))
    assert pinned.pinned == ("evil.top",) and pinned.version.startswith("v1+pin.evil.top.")
    assert [r.id for r in pinned.rules] == ["x"]
    unpinned = load_rules(edit_learned(pinned.source_text, "evil.top", pin=False))
    assert unpinned.pinned == () and unpinned.removed == ("evil.top",)
    assert unpinned.version.startswith("v1+remove.evil.top.")
    assert load_rules(edit_learned(None, "evil.top", pin=True)).pinned == ("evil.top",)


@pytest.fixture(scope="module")
def serving(default_model_registry: ModelRegistry) -> ServingModel:
    model = default_model_registry.load_current()
    return ServingModel(model, Policy.from_model(model, None))


RULES = """\
version: v1
rules:
  - id: zebracorn
    category: fraud
    match: {terms: [zebracorn]}
    effect: block
  - id: partner
    category: spam
    match: {domains: [partner.com]}
    effect: allow
"""


def test_learned_entries_block_new_wording_and_only_other_blocks_are_evidence(
    serving: ServingModel,
) -> None:
    ruleset = load_rules(RULES)
    learned = LearnedList([_entry("evil-pay.top", time.time() + 60)], pinned=["partner.com"])
    texts = [
        "see you at lunch, details at evil-pay.top",  # new wording, learned token
        "zebracorn deal at fresh-scam.top",  # a rule blocks it: evidence for fresh-scam.top
        "see you at lunch tomorrow",
        "lunch menu at partner.com",  # an allow rule beats the learned list
    ]
    events = [
        Event("chat.message", f"e{i}", f"acct{i}", t, "chat", {}) for i, t in enumerate(texts)
    ]
    scores = np.asarray(serving.model.score(texts), dtype=np.float64)
    positions = [Position("t", 0, i) for i in range(len(texts))]
    decisions = build_decisions(serving, events, positions, scores, 0.0)
    evidence = apply_rules(ruleset, serving, events, scores, decisions, None, learned)
    learned_block, rule_block, plain, allowed = decisions
    assert learned_block.action == "block" and learned_block.triggered == ("fraud",)
    assert "learned:evil-pay.top" in learned_block.reasons
    assert rule_block.action == "block" and plain.action == "allow"
    assert allowed.action == "allow" and "learned:partner.com" not in allowed.reasons
    # the rule's block teaches fresh-scam.top; the learned list's own block teaches nothing
    assert [(i, key) for i, key, _ in evidence] == [(1, b"fresh-scam.top")]
    record = orjson.loads(evidence[0][2])
    assert record["account_id"] == "acct1" and record["token_kind"] == "domains"


def test_a_block_the_learned_list_alone_made_is_marked_as_no_strike(
    serving: ServingModel,
) -> None:
    """Three accounts' spam naming ``google.com`` taught it, and an innocent account that then
    named it three times was blocked three times and restricted, with no moderator involved.
    The message is still blocked; the pipeline strikes only blocks something else made."""
    ruleset = load_rules(RULES)
    learned = LearnedList([_entry("evil-pay.top", time.time() + 60)])
    texts = ["see you at lunch, details at evil-pay.top", "zebracorn deal at evil-pay.top"]
    events = [
        Event("chat.message", f"e{i}", f"acct{i}", t, "chat", {}) for i, t in enumerate(texts)
    ]
    scores = np.asarray(serving.model.score(texts), dtype=np.float64)
    positions = [Position("t", 0, i) for i in range(len(texts))]
    decisions = build_decisions(serving, events, positions, scores, 0.0)
    learned_only: set[int] = set()
    apply_rules(ruleset, serving, events, scores, decisions, None, learned, None, learned_only)
    assert [d.action for d in decisions] == ["block", "block"]
    assert learned_only == {0}  # the second was the rule's block before the learned list's


def _domain_record(token: str) -> dict[str, Any]:
    """A ``learned_contact`` record of the topic for the domain ``token``."""
    return {
        "kind": "learned_contact",
        "token": token,
        "token_kind": "domains",
        "learned_at": 1.0,
        "expires_at": 2.0,
    }


def test_a_public_suffix_is_never_learned_nor_matched() -> None:
    """``co.uk`` learned from spam naming ``evil.co.uk`` and ``bbc.co.uk`` blocked every
    ``.co.uk`` site; ``github.io`` would block every GitHub page."""
    assert not learnable("domains", "co.uk") and not learnable("domains", "github.io")
    assert learnable("domains", "evil.co.uk") and learnable("phones", "13900001234")
    contacts = extract_contacts("see bbc.co.uk and pay.evil.top and me.github.io")
    assert candidates(contacts) >= {"bbc.co.uk", "pay.evil.top", "evil.top", "me.github.io"}
    assert not candidates(contacts) & {"co.uk", "top", "github.io", "io", "uk"}
    assert {t for _, t in tokens_of(extract_contacts("spam at co.uk and x.co.uk"))} == {"x.co.uk"}
    listed = LearnedList([_entry("co.uk", time.time() + 60)])
    assert listed.match(extract_contacts("news at bbc.co.uk"), time.time()) == []
    with pytest.raises(ValueError, match="bad token"):
        entry_from_record(_domain_record("com.cn"), 10.0, 86_400.0)


def test_the_contacts_scoring_found_are_used_not_searched_again(serving: ServingModel) -> None:
    """The pipeline hands over the contacts the scoring process found (``contacts_of``); a text
    missing from them is searched here."""
    learned = LearnedList([_entry("evil-pay.top", time.time() + 60)])
    texts = ["details at evil-pay.top", "details at evil-pay.top tomorrow"]
    events = [
        Event("chat.message", f"e{i}", f"acct{i}", t, "chat", {}) for i, t in enumerate(texts)
    ]
    memo: dict[str, Analysis] = {}
    with remembered(memo):
        scores = np.asarray(serving.model.score(texts), dtype=np.float64)
    searched = contacts_of(texts, memo)
    assert searched == {text: extract_contacts(text) for text in texts}
    # what scoring found is what counts: here it found nothing for the first text
    searched[texts[0]] = Contacts()
    del searched[texts[1]]
    positions = [Position("t", 0, i) for i in range(len(texts))]
    decisions = build_decisions(serving, events, positions, scores, 0.0)
    apply_rules(load_rules(RULES), serving, events, scores, decisions, memo, learned, searched)
    trusted, missing = decisions
    assert "learned:evil-pay.top" not in trusted.reasons
    assert missing.action == "block" and "learned:evil-pay.top" in missing.reasons


def test_an_event_is_evidence_for_a_bounded_number_of_tokens() -> None:
    """A message naming 100 phone numbers is not 100 ``contacts.blocked`` records."""
    contacts = extract_contacts(" ".join(f"call 1390000{i:04d}" for i in range(100)))
    assert len(contacts.phones) == 100
    assert len(tokens_of(contacts)) == TOKENS_PER_EVENT


def test_a_worker_forgets_expired_learned_entries() -> None:
    """Learned records keep coming (each token lives a day): the worker's list holds what is
    live, not every token ever learned."""
    holder = LearnedHolder(ttl_s=60.0)

    def record(i: int, now: float) -> bytes:
        data = {"kind": "learned_contact", "token": f"scam{i}.top", "token_kind": "domains"}
        return orjson.dumps({**data, "learned_at": now, "expires_at": now + 60.0})

    for i in range(10 * PRUNE_FROM):  # a new token every second: about 60 live at a time
        now = 1_000.0 + i
        holder.offer(f"scam{i}.top".encode(), record(i, now), now)
    assert len(holder.entries) < 2 * PRUNE_FROM
    assert f"scam{10 * PRUNE_FROM - 1}.top" in holder.entries
    live = LearnedList(holder.entries.values()).active(1_000.0 + 10 * PRUNE_FROM - 1)
    assert len(live) == 60


def test_a_flood_of_live_learned_records_is_held_to_a_bound(monkeypatch: Any) -> None:
    """Without a fleet key anyone who can write the topic could teach 200,000 live tokens
    (117 MB per worker). Past ``MAX_ENTRIES`` the ones that expire soonest are forgotten."""
    monkeypatch.setattr(learned_list, "MAX_ENTRIES", 2_000)
    holder = LearnedHolder(ttl_s=86_400.0)
    for i in range(10_000):
        now = 1_000.0 + i / 100
        value: dict[str, Any] = {
            "kind": "learned_contact",
            "token": f"flood{i}.top",
            "token_kind": "domains",
        }
        value |= {"learned_at": now, "expires_at": now + 86_400.0}
        holder.offer(f"flood{i}.top".encode(), orjson.dumps(value), now)
    assert len(holder.entries) < 2 * 2_000
    assert "flood9999.top" in holder.entries and "flood0.top" not in holder.entries


def test_the_token_budget_starts_again_each_window() -> None:
    budget = TokenBudget(2, window_s=60.0)
    assert [budget.take(t) for t in (0.0, 1.0, 2.0, 59.0)] == [True, True, False, False]
    assert [budget.take(t) for t in (60.0, 61.0, 62.0)] == [True, True, False]


def test_links_in_a_messages_urls_field_are_matched_and_taught(serving: ServingModel) -> None:
    """A platform may send a link as a preview, in ``urls``, beside text without it: a learned
    domain there was not seen (the message was allowed), and a rule's block of such spam taught
    the learned list nothing."""
    ruleset = load_rules(RULES)
    learned = LearnedList([_entry("evil-pay.top", time.time() + 60)])
    texts = ["check this out", "zebracorn deal", "check this out"]
    data: list[dict[str, object]] = [
        {"urls": ["https://evil-pay.top/bonus"]},
        {"urls": ["https://fresh-scam.top/x", 7, "x" * 100_000]},  # not a string, and too long
        {"urls": "https://evil-pay.top"},  # not a list: nothing
    ]
    events = [
        Event("chat.message", f"e{i}", f"acct{i}", t, "chat", d)
        for i, (t, d) in enumerate(zip(texts, data, strict=True))
    ]
    scores = np.asarray(serving.model.score(texts), dtype=np.float64)
    positions = [Position("t", 0, i) for i in range(len(texts))]
    decisions = build_decisions(serving, events, positions, scores, 0.0)
    evidence = apply_rules(ruleset, serving, events, scores, decisions, None, learned)
    linked, rule_block, not_a_list = decisions
    assert linked.action == "block" and "learned:evil-pay.top" in linked.reasons
    assert rule_block.action == "block"
    assert not_a_list.action != "block"
    assert [(i, key) for i, key, _ in evidence] == [(1, b"fresh-scam.top")]


def test_a_banks_or_platforms_domain_is_never_learned_but_a_host_borrowing_its_name_is() -> None:
    """Three accounts' spam naming a real bank beside its own link taught the fleet to block
    every customer who named the bank for a day."""
    spam = extract_contacts("verify at online.hsbc.co.uk or hsbc.co.uk.secure-verify.top, t.me/x")
    taught = {token for _, token in tokens_of(spam)}
    assert taught == {"hsbc.co.uk.secure-verify.top"}
    assert not learnable("domains", "hsbc.co.uk") and not learnable("domains", "pay.alipay.com")
    with pytest.raises(ValueError, match="bad token"):
        entry_from_record(_domain_record("icbc.com.cn"), 10.0, 86_400.0)
