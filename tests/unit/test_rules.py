"""Rules files: validation, the term/regex/contact matcher, combination with scores, effects."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from models import rules as rules_module
from models.normalize import Analysis, analyse, normalize
from models.policy import Policy
from models.registry import ModelRegistry
from models.rules import (
    Contacts,
    RulesError,
    RuleSet,
    combine,
    extract_contacts,
    known_contacts,
    load_rules,
    may_carry_contacts,
)
from models.signing import sign_payload
from streams import learned_list as learned_list_module
from streams import metrics
from streams.decide import Position, build_decisions, score_events
from streams.decoding import Event
from streams.model_holder import ServingModel
from streams.records import Decision
from streams.rules_dry_run import Row, dry_run
from streams.rules_holder import (
    PublishedRules,
    RulesHolder,
    apply_rules,
    decode_record,
    encode_record,
    newest_valid,
    signed_payload,
)

RULES = """\
version: "2026-11-30.1"
lists:
  scam_domains: [evil-pay.top, refund-help.cn]
rules:
  - id: casino-terms
    description: casino spam wording
    category: gambling
    match:
      terms: [casino bonus, 刷单返利]
    effect: block
  - id: refund-domains
    category: fraud
    match:
      domains: scam_domains
      min_scores: {fraud: 0.3}
    effect: review
  - id: claim-code
    category: fraud
    match:
      regex: "claim code \\\\d{6}"
    effect: {score: {fraud: 0.5}}
  - id: partner-shop
    category: allow
    match:
      domains: [partner-shop.com]
    effect: allow
    sources: [post:ad]
"""


def fired(
    ruleset: RuleSet, text: str, scores: dict[str, float] | None = None, source: str = "chat"
) -> list[str]:
    return [rule.id for rule in ruleset.match(text, scores or {}, source, time.time())]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(RULES)


# -- terms on the normalized text ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "get your casino bonus now",
        "get your c a s i n o   b o n u s now",  # spaced
        "get your ｃａｓｉｎｏ ｂｏｎｕｓ now",  # full-width
        "get your саsinо bоnus now",  # Cyrillic look-alikes
        "get your ca\u200bsi\u200cno bo\u200dnus now",  # zero-width characters
        "CASINO BONUS!!!",
        "casino bonus888 today",  # digits glued on
        "兼职刷单返利，日结",
        "兼职刷 单 返 利，日结",  # spaced Chinese
        "兼职刷\u200b单返\ufeff利",  # zero-width inside Chinese
    ],
)
def test_obfuscated_variants_of_a_listed_term_all_match(ruleset: RuleSet, text: str) -> None:
    assert fired(ruleset, text) == ["casino-terms"]


@pytest.mark.parametrize("text", ["casinos bonuses are fun", "a casino", "刷单", "hello"])
def test_a_term_does_not_match_inside_a_longer_word_or_partially(
    ruleset: RuleSet, text: str
) -> None:
    assert fired(ruleset, text) == []


def test_a_latin_term_matches_whole_words_only() -> None:
    rules = load_rules(
        "version: 1\nrules:\n- {id: a, category: hate, match: {terms: [ass]}, effect: review}\n"
    )
    assert fired(rules, "you ass") == ["a"]
    assert fired(rules, "first class assignment") == []


# -- contact lists ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "refund here https://evil-pay.top/claim?id=1",
        "go to www.evil-pay.top now",
        "visit pay.evil-pay.top",  # a subdomain
        "visit evil-pay点top",  # the Chinese word for the dot
        "visit ｅｖｉｌ-ｐａｙ.ｔｏｐ",  # full-width
    ],
)
def test_a_listed_domain_matches_when_combined_with_the_model_score(
    ruleset: RuleSet, text: str
) -> None:
    assert fired(ruleset, text, {"fraud": 0.35}) == ["refund-domains"]
    assert fired(ruleset, text, {"fraud": 0.2}) == []  # the score condition holds too


def test_contact_tokens_are_extracted() -> None:
    contacts = extract_contacts(
        "加微信 abc_123 或 QQ：12345678，电话 +86 138-0013-8000，见 http://x.example.cn/a"
    )
    assert "abc_123" in contacts.wechat
    assert "12345678" in contacts.qq
    assert "8613800138000" in contacts.phones
    assert "x.example.cn" in contacts.hosts
    assert "x.example.cn/a" in contacts.urls


def test_phone_wechat_qq_and_url_lists_match() -> None:
    rules = load_rules(
        """version: v1
rules:
  - {id: phone, category: fraud, match: {phones: ["138 0013 8000"]}, effect: block}
  - {id: wechat, category: fraud, match: {wechat: [Scam_Agent8]}, effect: block}
  - {id: qq, category: spam, match: {qq: ["987654321"]}, effect: review}
  - {id: url, category: fraud, match: {urls: ["https://bit.ly/abc"]}, effect: block}
"""
    )
    assert fired(rules, "call +86 138-0013-8000") == ["phone"]
    assert fired(rules, "加 vx: scam_agent8 领取") == ["wechat"]
    assert fired(rules, "扣扣 987654321") == ["qq"]
    assert fired(rules, "see bit.ly/abcdef") == []  # no scheme, no www: only a host
    assert fired(rules, "see http://bit.ly/abc/def") == ["url"]
    assert fired(rules, "call 138 0013 8001") == []


def test_lists_of_many_entry_lengths_match_by_prefix_suffix_and_parent_domain() -> None:
    rules = load_rules(
        """version: v1
rules:
  - {id: url, category: fraud, match: {urls: ["https://t.co/x", "https://pay.example/claim/now"]}, effect: block}
  - {id: phone, category: fraud, match: {phones: ["0013 8000", "138 0013 8000", "12345"]}, effect: block}
  - {id: domain, category: fraud, match: {domains: [evil.top]}, effect: block}
"""
    )
    assert fired(rules, "http://t.co/xyz") == ["url"]
    assert fired(rules, "http://pay.example/claim/now?id=1") == ["url"]
    assert fired(rules, "http://pay.example/claim") == []
    assert fired(rules, "call +86 138 0013 8000") == ["phone"]  # a listed number as a suffix
    assert fired(rules, "call 12345 now") == []  # under 7 digits: not a phone at all
    assert fired(rules, "call 9912 345") == []
    # a "host" longer than DNS allows is cut to its parents that could resolve: still matched
    long_host = "a." * 300 + "pay.evil.top"
    assert max(map(len, extract_contacts(long_host).hosts)) <= 253
    assert fired(rules, f"see {long_host} now") == ["domain"]


def test_sources_and_expiry_limit_where_a_rule_fires() -> None:
    rules = load_rules(
        """version: v1
rules:
  - {id: ad-only, category: spam, match: {terms: [promo]}, effect: block, sources: ["post:ad"]}
  - {id: expired, category: spam, match: {terms: [promo]}, effect: block, expires: 2020-01-01}
  - {id: disabled, category: spam, match: {terms: [promo]}, effect: block, enabled: false}
"""
    )
    assert fired(rules, "promo", source="post:ad") == ["ad-only"]
    assert fired(rules, "promo", source="chat") == []


# -- RE2 -----------------------------------------------------------------------------------------------
def test_regex_matches_the_normalized_text(ruleset: RuleSet) -> None:
    assert fired(ruleset, "Your ｃｌａｉｍ code 123456") == ["claim-code"]
    assert fired(ruleset, "claim code 12345") == []


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()  # CPU time: other processes on a busy machine don't count
        fn()
        best = min(best, time.process_time() - started)
    return best


def test_a_pathological_regex_runs_in_linear_time() -> None:
    """``(a+)+$`` backtracks exponentially in Python's re on "aaa…b"; RE2 stays linear: ten
    times the text costs about ten times the time (bound 40, for a busy machine)."""
    rules = load_rules(
        'version: 1\nrules:\n- {id: evil, category: spam, match: {regex: "(a+)+$"}, effect: review}\n'
    )
    short, long = "a" * 20_000 + "!", "a" * 200_000 + "!"
    assert fired(rules, short) == []
    ratio = _best_of(3, lambda: fired(rules, long)) / _best_of(3, lambda: fired(rules, short))
    assert ratio < 40, f"10x the text cost {ratio:.1f}x the time"


@given(st.text(alphabet="a!x ", max_size=300))
def test_pathological_regexes_finish_on_any_input(text: str) -> None:
    rules = load_rules(
        'version: 1\nrules:\n- {id: evil, category: spam, match: {regex: "(a|aa)+$"}, effect: review}\n'
        '- {id: evil2, category: spam, match: {regex: "(x+x+)+y"}, effect: review}\n'
    )
    started = time.process_time()
    fired(rules, text * 50)
    assert time.process_time() - started < 5.0


# -- scale ---------------------------------------------------------------------------------------------
def _word(i: int) -> str:
    """A distinct letters-only word per number (digits would be read as leetspeak)."""
    return "scam" + "".join("bcdfghjklm"[int(d)] + "a" for d in f"{i:06d}")


def _term_file(count: int) -> str:
    terms = "\n".join(f"      - {_word(i)}" for i in range(count))
    domains = "\n".join(f"      - scam{i:05d}.top" for i in range(count // 10))
    return (
        f"version: big-{count}\nrules:\n  - id: big\n    category: spam\n    effect: block\n"
        f"    match:\n      terms:\n{terms}\n  - id: big-domains\n    category: fraud\n"
        f"    effect: block\n    match:\n      domains:\n{domains}\n"
    )


def test_100000_terms_match_at_no_per_term_cost() -> None:
    small, big = load_rules(_term_file(100)), load_rules(_term_file(100_000))
    assert len(big.rules[0].terms) == 100_000 and len(big.rules[1].contacts["domains"]) == 10_000
    texts = [f"message {i} about nothing much, see example.com and call nobody" for i in range(300)]
    texts.append(f"buy {_word(99_999)} at scam09999.top")

    def run(rules: RuleSet) -> None:
        for text in texts:
            rules.match(text, {}, "chat", 0.0)

    assert [r.id for r in big.match(texts[-1], {}, "chat", 0.0)] == ["big", "big-domains"]
    # A loop over the terms would cost about 1000x; the automaton's cost does not grow with the
    # terms, but its 1000x larger tables miss the CPU caches more when other processes share
    # them (measured 1.1-2.1x on a busy 2-core machine), hence a bound far below 1000x, not ~1x.
    ratio = _best_of(3, lambda: run(big)) / _best_of(3, lambda: run(small))
    assert ratio < 10.0, f"1000x the terms cost {ratio:.2f}x the time"


# -- validation -----------------------------------------------------------------------------------------
def test_an_invalid_file_is_refused_whole_naming_rule_ids_and_lines() -> None:
    text = RULES + (
        "  - id: bad-regex\n    category: spam\n    match: {regex: '(a)\\1'}\n    effect: block\n"
        "  - id: bad-effect\n    category: spam\n    match: {terms: [x]}\n    effect: blok\n"
        "  - id: casino-terms\n    category: spam\n    match: {terms: [y]}\n    effect: block\n"
        "  - id: no-list\n    category: spam\n    match: {domains: nowhere}\n    effect: block\n"
    )
    with pytest.raises(RulesError) as raised:
        load_rules(text, name="new.yaml")
    message = str(raised.value)
    assert "new.yaml refused, nothing applied" in message
    assert "rule 'bad-regex' (line 28)" in message and "RE2: invalid escape sequence" in message
    assert "rule 'bad-effect' (line 32): effect 'blok'" in message
    assert "rule 'casino-terms' (line 36): duplicate id" in message
    assert "rule 'no-list' (line 40)" in message and "'nowhere'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: []\n", "'version' is missing"),
        (
            "version: 1\nrules: [{id: Bad Id, category: x, match: {terms: [a]}, effect: block}]\n",
            "id 'Bad Id'",
        ),
        (
            "version: 1\nrules: [{id: a, category: x, match: {}, effect: block}]\n",
            "'match' is missing",
        ),
        (
            "version: 1\nrules: [{id: a, category: x, match: {tems: [a]}, effect: block}]\n",
            "unknown match keys ['tems']",
        ),
        (
            "version: 1\nrules: [{id: a, category: x, match: {terms: [a]}, effect: {score: {x: 3}}}]\n",
            "between -1 and 1",
        ),
        (
            "version: 1\nrules: [{id: a, category: x, match: {terms: [a]}, effect: block, expires: soon}]\n",
            "'expires'",
        ),
        ("version: 1\nrules:\n  - id: a\n    match: [\n", "not valid YAML"),
    ],
)
def test_validation_errors_say_what_is_wrong(text: str, expected: str) -> None:
    with pytest.raises(RulesError, match=r"refused|not valid YAML") as raised:
        load_rules(text)
    assert expected in str(raised.value)


# -- effects --------------------------------------------------------------------------------------------
def test_allow_beats_block_beats_review_and_review_never_lowers_a_block(ruleset: RuleSet) -> None:
    block, review, allow = (
        next(r for r in ruleset.rules if r.action == a) for a in ("block", "review", "allow")
    )
    assert combine("block", [block, allow])[0] == "allow"
    assert combine("allow", [review, block])[0] == "block"
    assert combine("block", [review])[0] == "block"
    assert combine("allow", [review])[0] == "review"
    assert combine("review", [])[0] == "review"


@pytest.fixture(scope="module")
def serving(default_model_registry: ModelRegistry) -> ServingModel:
    model = default_model_registry.load_current()
    return ServingModel(model, Policy.from_model(model, None))


def _decide(
    serving: ServingModel, ruleset: RuleSet, texts: list[tuple[str, str]]
) -> list[Decision]:
    events = [
        Event("chat.message", f"e{i}", "a", text, source, {})
        for i, (text, source) in enumerate(texts)
    ]
    scores = np.asarray(serving.model.score([t for t, _ in texts]), dtype=np.float64)
    decisions = build_decisions(
        serving, events, [Position("t", 0, i) for i in range(len(texts))], scores, 0.0
    )
    apply_rules(ruleset, serving, events, scores, decisions)
    return decisions


def test_decisions_carry_the_rules_version_and_name_the_rules_that_fired(
    serving: ServingModel, ruleset: RuleSet
) -> None:
    plain, listed, allowed = _decide(
        serving,
        ruleset,
        [
            ("see you at lunch tomorrow", "chat"),
            ("see you at lunch, casino bonus inside", "chat"),
            ("great prices at https://partner-shop.com, casino bonus", "post:ad"),
        ],
    )
    assert {d.rules_version for d in (plain, listed, allowed)} == {"2026-11-30.1"}
    assert plain.action == "allow" and not any(r.startswith("rule:") for r in plain.reasons)
    assert listed.action == "block" and "rule:casino-terms" in listed.reasons
    assert listed.triggered == ("gambling",)
    assert allowed.action == "allow" and "rule:partner-shop" in allowed.reasons
    assert allowed.triggered == ()


def test_rules_read_the_normalized_text_scoring_computed(
    serving: ServingModel, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring records each text's normalized form; the rules match on it, never normalizing a
    text again (the cost of 100,000 terms was mostly that second normalization)."""
    texts = ["see you at lunch, c a s i n o bonus inside", "see you at lunch tomorrow"]
    events = [Event("chat.message", f"e{i}", "a", t, "chat", {}) for i, t in enumerate(texts)]
    memo: dict[str, Analysis] = {}
    scores, _ = score_events(serving, events, memo)
    assert {t: memo[t][0] for t in texts} == {t: normalize(t) for t in texts}

    def refuse(text: str) -> str:
        raise AssertionError(f"normalized twice: {text!r}")

    monkeypatch.setattr(rules_module, "normalize", refuse)
    positions = [Position("chat.messages", 0, i) for i in range(len(events))]
    decisions = build_decisions(serving, events, positions, scores, 0.0)
    apply_rules(ruleset, serving, events, scores, decisions, memo)
    assert "rule:casino-terms" in decisions[0].reasons and decisions[0].action == "block"
    assert decisions[1].action == "allow"


def test_a_score_effect_moves_the_score_and_the_policy_decides_on_it(
    serving: ServingModel, ruleset: RuleSet
) -> None:
    text = "hello, your claim code 123456 is ready"
    (without,) = _decide(serving, load_rules("version: empty\nrules: []\n"), [(text, "chat")])
    (with_rule,) = _decide(serving, ruleset, [(text, "chat")])
    assert with_rule.scores["fraud"] == pytest.approx(
        min(1.0, without.scores["fraud"] + 0.5), abs=1e-3
    )
    assert "rule:claim-code" in with_rule.reasons
    assert without.rules_version == "empty"


def _signed(record: PublishedRules, key: Ed25519PrivateKey) -> bytes:
    sha = hashlib.sha256(record.text.encode()).hexdigest()
    signature = sign_payload(signed_payload(record.version, sha), key)
    return encode_record(dataclasses.replace(record, sha256=sha, signature=signature))


def test_the_holder_refuses_an_invalid_record_and_keeps_serving() -> None:
    key = Ed25519PrivateKey.generate()
    holder = RulesHolder(key.public_key())
    good = PublishedRules(0, "2026-11-30.1", RULES, "", 0.0, "t")
    assert holder.offer(_signed(good, key)) == "2026-11-30.1"
    bad = PublishedRules(
        1,
        "v2",
        "version: v2\nrules: [{id: x, category: y, match: {terms: [a]}, effect: nope}]\n",
        "",
        0.0,
        "t",
    )
    assert holder.offer(_signed(bad, key)) is None
    assert holder.current.version == "2026-11-30.1"
    assert holder.last_error is not None and "rule 'x' (line 2)" in holder.last_error
    assert holder.offer(b"not json") is None
    assert holder.current.version == "2026-11-30.1"
    assert holder.offer(_signed(good, key)) is None  # the same version again: no switch
    assert holder.offer(b"x" * 2_000, limit=1_000) is None  # oversize: refused unparsed
    assert holder.last_error is not None and "over the 1000-byte limit" in holder.last_error


ALLOW_ALL = (
    "version: evil\nrules: [{id: all, category: spam, match: {regex: '.'}, effect: allow}]\n"
)


def test_the_holder_serves_only_rules_signed_by_the_trusted_key() -> None:
    trusted, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    holder = RulesHolder(trusted.public_key())
    assert holder.offer(_signed(PublishedRules(0, "2026-11-30.1", RULES, "", 0.0, "t"), trusted))
    evil = PublishedRules(1, "evil", ALLOW_ALL, "", 0.0, "t")
    before = metrics.RULE_RELOADS.labels(result="unsigned")._value.get()
    assert holder.offer(encode_record(evil)) is None
    assert holder.last_error is not None and "is not signed" in holder.last_error
    assert metrics.RULE_RELOADS.labels(result="unsigned")._value.get() == before + 1
    assert holder.offer(_signed(evil, other)) is None
    assert holder.last_error is not None and "bad signature" in holder.last_error
    # a trusted signature over other text: the text was swapped after signing
    signed = orjson.loads(_signed(PublishedRules(2, "evil", RULES, "", 0.0, "t"), trusted))
    signed["text"] = ALLOW_ALL
    assert holder.offer(orjson.dumps(signed)) is None
    assert holder.last_error is not None and "bad signature" in holder.last_error
    assert holder.current.version == "2026-11-30.1"
    # no key at all: nothing is served; the development override serves unsigned files
    assert RulesHolder().offer(_signed(evil, trusted)) is None
    assert RulesHolder(allow_unsigned=True).offer(encode_record(evil)) == "evil"


def _timed(version: str, at: float, key: Ed25519PrivateKey, offset: int = 0) -> PublishedRules:
    """A record of ``version`` as ``chatguard rules publish`` signs it at ``at``."""
    text = f"version: {version}\nrules: []\n"
    sha = hashlib.sha256(text.encode()).hexdigest()
    signature = sign_payload(signed_payload(version, sha, at), key)
    return PublishedRules(offset, version, text, sha, at, "t", signature)


def test_a_signed_record_of_an_earlier_version_re_sent_is_refused() -> None:
    """The signature covered the version and the text, not when: a copy of an old version's
    record written later rolled every worker back to it. Versions are ordered by their signed
    publish times; a rollback republishes the old text under a new time."""
    key = Ed25519PrivateKey.generate()
    holder = RulesHolder(key.public_key())
    v1, v2 = _timed("v1", 100.0, key), _timed("v2", 200.0, key)
    assert holder.offer(encode_record(v1)) == "v1"
    assert holder.offer(encode_record(v2)) == "v2"
    stale = metrics.RULE_RELOADS.labels(result="stale")._value.get()
    assert holder.offer(encode_record(v1)) is None  # re-sent
    assert holder.last_error is not None and "a re-sent record" in holder.last_error
    # a record signed before times were: older than any timed one
    assert (
        holder.offer(
            _signed(PublishedRules(0, "v0", "version: v0\nrules: []\n", "", 0.0, "t"), key)
        )
        is None
    )
    # a time claimed beside the signature is not the one signed
    forged = orjson.loads(encode_record(v1))
    forged["published_at"] = 300.0
    assert holder.offer(orjson.dumps(forged)) is None
    assert holder.last_error is not None and "bad signature" in holder.last_error
    assert metrics.RULE_RELOADS.labels(result="stale")._value.get() == stale + 2
    assert holder.current.version == "v2"
    assert holder.offer(encode_record(_timed("v1", 300.0, key))) == "v1"  # a rollback
    assert holder.offer(encode_record(v2)) is None and holder.current.version == "v1"


def test_a_worker_starting_up_serves_the_newest_by_signed_time_not_by_offset() -> None:
    key = Ed25519PrivateKey.generate()
    holder = RulesHolder(key.public_key())
    history = [
        _signed(PublishedRules(0, "v0", "version: v0\nrules: []\n", "", 0.0, "t"), key),
        encode_record(_timed("v1", 100.0, key, 1)),
        encode_record(_timed("v2", 200.0, key, 2)),
        encode_record(_timed("v1", 100.0, key, 3)),  # v1's record re-sent
    ]
    records = [decode_record(i, value) for i, value in enumerate(history)]
    current, before = newest_valid(records, holder)
    assert current is not None and current.version == "v2" and before == ["v1", "v0"]
    # without signed times (records of before this change) the order is the topic's
    legacy = [decode_record(i, _signed(r, key)) for i, r in enumerate(records)]
    current, _ = newest_valid(legacy, holder)
    assert current is not None and current.offset == 3


def test_dry_run_counts_hits_precision_recall_and_changed_decisions(serving: ServingModel) -> None:
    rules = load_rules(
        "version: dry\nrules:\n"
        "- {id: pizza, category: spam, match: {terms: [pineapple pizza]}, effect: block}\n"
    )
    rows = [
        Row("pineapple pizza deals, message me for the list", frozenset({"spam"})),
        Row("we had pineapple pizza for lunch today", frozenset()),
        Row("cheap pizza deals, message me for the list", frozenset({"spam"})),
        Row("see you at the meeting at noon", frozenset()),
    ]
    report = dry_run(rules, serving, rows)
    stats = report.per_rule["pizza"]
    assert (stats.hits, stats.true_hits, stats.relevant) == (2, 1, 2)
    assert stats.precision == 0.5 and stats.recall == 0.5
    assert report.changes["allow→block"] >= 1  # the lunch message at least
    assert all(k.endswith("→block") for k in report.changes)


def test_tail_prints_model_and_rules_announcements() -> None:
    import dataclasses

    from devtools.tail import format_record
    from streams.records import ModelUpdate

    def line(update: ModelUpdate) -> str:  # as it is on the topic: both keys, one of them null
        return format_record("model.updates", dataclasses.asdict(update))

    assert line(ModelUpdate.rules("host:1", "v7", 0.0)) == "RULES   host:1 now serves v7"
    assert line(ModelUpdate.model("host:1", "m3", 0.0)) == "MODEL   host:1 now serves m3"


def test_rules_test_and_show_commands_print_per_rule_figures(
    default_model_registry: ModelRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from chatguard.cli import main as chatguard_main

    monkeypatch.setenv("CHATGUARD_REGISTRY", str(default_model_registry.root))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "version: dry\nrules:\n"
        "- {id: pizza, category: spam, match: {terms: [pineapple pizza]}, effect: block}\n"
    )
    data = tmp_path / "labelled.jsonl"
    data.write_text(
        '{"text": "pineapple pizza deals, message me", "categories": ["spam"]}\n'
        '{"text": "lunch at noon?", "labels": {"spam": 0}}\n'
    )
    assert chatguard_main(["rules", "test", str(rules_file), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "rules dry on 2 rows" in out
    assert "pizza" in out and "1.00      1.00" in out
    assert chatguard_main(["rules", "show", "--file", str(rules_file)]) == 0
    assert "version dry: 1 rules" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text('{"text": "no labels"}\n')
    assert (
        chatguard_main(["rules", "test", str(rules_file), "--data", str(tmp_path / "bad.jsonl")])
        == 1
    )
    assert "bad.jsonl:1: not a labelled row" in capsys.readouterr().err


# -- skipping contact extraction -----------------------------------------------------------------------
def _has_contacts(text: str) -> bool:
    found = extract_contacts(text)
    return bool(found.hosts or found.urls or found.phones or found.wechat or found.qq)


TRICKY = [
    "see evil点abcd now",
    "visit ｅｖｉｌ．ｔｏｐ",
    "加微信 abcdef123",
    "vx: scammer_01 fast",
    "qq 123456789",
    "call +1 (415) 555-0100",
    "go to hxxps://x.y/z",
    "shop at pay.evil.top/x",
    "ev1l.top",
    "www.example",
]


@pytest.mark.parametrize("text", TRICKY)
def test_a_text_with_contacts_is_never_skipped(text: str) -> None:
    assert _has_contacts(text), text  # the case is meaningful: the rules see a contact
    assert may_carry_contacts(analyse(text)), text


def test_no_sample_text_with_contacts_is_skipped_and_most_without_are() -> None:
    traffic = Path(__file__).parents[2] / "devtools" / "samples" / "traffic.jsonl"
    texts = [orjson.loads(line).get("text") for line in traffic.read_text().splitlines() if line]
    texts = [t for t in texts if isinstance(t, str)]
    missed = [t for t in texts if _has_contacts(t) and not may_carry_contacts(analyse(t))]
    assert missed == []
    plain = [t for t in texts if not _has_contacts(t)]
    skipped = sum(not may_carry_contacts(analyse(t)) for t in plain)
    assert skipped >= len(plain) // 2, f"only {skipped} of {len(plain)} contact-free texts skipped"


@given(
    st.text(
        alphabet=st.sampled_from(list("abcxyz .点。0123456789+-:/@_ｅ０微信qQvx\u200b")),
        max_size=40,
    )
)
def test_skipping_never_hides_a_contact(text: str) -> None:
    if _has_contacts(text):
        assert may_carry_contacts(analyse(text)), text


def test_known_contacts_are_none_where_scoring_saw_none_else_scorings_else_searched() -> None:
    text, plain = "加微信 edgecase77 领红包", "see you at lunch"
    searched = extract_contacts(text)
    assert searched.wechat  # the case is meaningful
    # what scoring found is taken as it is (a stand-in shows it was not searched again)
    stand_in = Contacts(hosts=frozenset({"example.org"}))
    assert known_contacts(text, analyse(text), {text: stand_in}) == stand_in
    # not found by scoring, or not analysed: searched here
    assert known_contacts(text, analyse(text), {}) == searched
    assert known_contacts(text, None, None) == searched
    # scoring's analysis shows no contact can be there: nothing, whatever the map says
    assert not may_carry_contacts(analyse(plain))
    assert known_contacts(plain, analyse(plain), {plain: stand_in}) == Contacts()


def test_without_rules_a_blocked_texts_contacts_are_searched_only_if_it_may_hold_one(
    serving: ServingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no rules and no learned list, only blocked events' contacts are needed (evidence
    for the learned list); scoring's analysis spares the search in a text that cannot hold one,
    and the evidence is the same as with every text searched."""
    texts = ["add me on vx: scammer_01 for the prize", "you won a prize, claim it now", "hi"]
    events = [Event("chat.message", f"e{i}", "a", t, "chat", {}) for i, t in enumerate(texts)]
    memo: dict[str, Analysis] = {}
    scores, _ = score_events(serving, events, memo)
    positions = [Position("chat.messages", 0, i) for i in range(len(events))]

    def decided() -> list[Decision]:
        built = build_decisions(serving, events, positions, scores, 0.0)
        blocked = [dataclasses.replace(d, action="block", triggered=("fraud",)) for d in built[:2]]
        return blocked + built[2:]

    searched: list[str] = []
    search = learned_list_module.extract_contacts

    def recording(text: str) -> Contacts:
        searched.append(text)
        return search(text)

    monkeypatch.setattr(learned_list_module, "extract_contacts", recording)
    monkeypatch.setattr(rules_module, "extract_contacts", recording)
    empty = load_rules("version: empty\nrules: []\n")
    everything = apply_rules(empty, serving, events, scores, decided())
    assert searched == texts[:2]  # without the analyses: every blocked text
    searched.clear()
    spared = apply_rules(empty, serving, events, scores, decided(), memo)
    assert searched == texts[:1]  # the second cannot hold a contact
    assert spared == everything
    assert [token for _, token, _ in spared] == [b"scammer_01"]


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("offer ends 24.12.2026", set()),
        ("born on 04.12.2043", set()),
        ("12-10-2024", set()),
        ("2026.12.04", set()),
        ("2026-12-04 10 30", set()),
        ("1.000.000 prize", set()),
        ("1 250 000 yuan", set()),
        ("version 10.0.19045.3803", set()),
        ("ip 192.168.1.100", set()),
        ("call +65 9123 4567", {"6591234567"}),
        ("012-387 2219", {"0123872219"}),
        ("138 0013 8000", {"13800138000"}),
        ("(02) 1234 5678", {"0212345678"}),
        ("+1 (555) 123-4567", {"15551234567"}),
        ("+86 13800138000", {"8613800138000"}),
        ("01.23.45.67.89", {"0123456789"}),
        ("555.123.4567", {"5551234567"}),
        ("612 345 678", {"612345678"}),
        ("+44 7911 123456", {"447911123456"}),
        ("call_13812345678", {"13812345678"}),
        ("mm_8866", set()),
    ],
)
def test_dates_amounts_and_versions_are_not_phone_numbers(text: str, phones: set[str]) -> None:
    """Spam that named its deadline ("offer ends 24.12.2026") taught the learned list the phone
    24122026, and every innocent message naming that day was blocked."""
    assert set(extract_contacts(text).phones) == phones
