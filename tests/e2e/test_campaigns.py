"""Campaigns on a live fleet of two workers: obfuscated variants of one scam from 150 accounts,
spread over every partition among ordinary traffic, become one campaign whose later members are
blocked and whose accounts get one action each; copies of a clean greeting become a clean
campaign that escalates nothing."""

from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from chatguard.cli import main as chatguard_main
from chatguard.settings import Settings
from devtools.produce import build_events
from models.campaigns import CampaignBook, parse_record
from models.policy import Policy
from models.registry import ModelRegistry
from streams import topics
from streams.campaigns import fingerprints
from streams.decoding import Event, decode
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import (
    Record,
    consume,
    end_offsets_total,
    free_port,
    produce,
    produce_bytes,
    produce_signed,
    wait_committed,
    window_start,
)
from tests.e2e.test_rules import _use_env
from tests.unit.test_fingerprint import scam_variants

pytestmark = pytest.mark.e2e

ACCOUNTS = 150
GREETING = "新年快乐，祝你和家人身体健康，万事如意，心想事成！"
# A lure without the job-scam words: the seed model sends most variants to review and blocks none
# alone, so the blocks the first test sees are the campaign's doing.
LURE = "{p} {id} 领取新人红包{e}，名额有限，先到先得{e2}"


def _chat(tag: str, i: int, account: str, text: str) -> OutgoingEvent:
    event_id = f"{tag}-{i}"
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": f"{tag}-conv-{i}",
        "sender_id": account,
        "text": text,
        "sent_at": time.time(),
    }
    value = orjson.dumps(data)
    return OutgoingEvent("chat.messages", event_id.encode(), value, event_id, "valid", (), account)


def _members(tag: str, texts: Sequence[str]) -> list[OutgoingEvent]:
    """``texts`` from ``ACCOUNTS`` accounts, each sending two (the i-th and the 150+i-th), keyed
    by event id so they spread over every partition."""
    return [_chat(tag, i, f"{tag}-acct-{i % ACCOUNTS}", text) for i, text in enumerate(texts)]


def _of(records: list[Record], settings: Settings, topic: str) -> list[dict[str, Any]]:
    name = settings.topic(topic)
    return [r.json() for r in records if r.topic == name]


def _decided(records: list[Record], settings: Settings) -> dict[str, dict[str, Any]]:
    return {d["event_id"]: d for d in _of(records, settings, topics.DECISIONS)}


def _baseline(settings: Settings, events: Sequence[OutgoingEvent]) -> dict[str, str]:
    """What the served model and policy decide for ``events`` alone (no campaign)."""
    model = ModelRegistry(settings.registry).load_current(public_key=None)
    policy = Policy.from_model(model, None)
    decoded = [
        decode(e.value, e.topic, max_event_bytes=1 << 20, max_text_chars=20_000) for e in events
    ]
    valid = [d for d in decoded if isinstance(d, Event)]
    scores = np.asarray(model.score([d.text for d in valid]), dtype=np.float64)
    verdicts = policy.decide_batch(scores, [d.source for d in valid])
    return {d.event_id: v.action for d, v in zip(valid, verdicts, strict=True)}


def _start_fleet(start_worker: Callable[..., WorkerProcess]) -> list[WorkerProcess]:
    on = {"CHATGUARD_CAMPAIGNS": "on"}
    workers = [start_worker(env=on), start_worker(env=on)]
    for worker in workers:
        worker.wait_ready()
    return workers


def _first_campaign(settings: Settings, status: str) -> dict[str, Any]:
    records = consume(
        settings,
        [topics.CAMPAIGNS],
        until=lambda rs: any(r.json().get("status") == status for r in rs),
        timeout=120,
    )
    found = [r.json() for r in records if r.json().get("status") == status]
    assert found, f"no {status} campaign was announced"
    return found[0]


def _marked_senders(
    decided: dict[str, dict[str, Any]], events: Sequence[OutgoingEvent], campaign_id: str
) -> set[str]:
    """The accounts of ``events`` decided as members of ``campaign_id``."""
    return {
        decided[e.event_id]["account_id"]
        for e in events
        if e.event_id in decided and decided[e.event_id]["campaign_id"] == campaign_id
    }


def _one_campaign(records: list[dict[str, Any]]) -> set[str]:
    """The campaign ids readers end with after joining ``records`` in topic order."""
    book = CampaignBook()
    now = time.time()
    return {book.offer(parse_record(r), now).campaign_id for r in records}


def test_a_scam_campaign_is_caught_once_and_its_later_members_are_blocked(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = stream_settings
    workers = _start_fleet(start_worker)
    ordinary = build_events(2_000, malformed_share=0.0, seed=16)
    variants = _members("scam", scam_variants(2 * ACCOUNTS, seed=16, template=LURE))
    early, late = variants[:60], variants[60:]
    mixed = ordinary[:1_000] + early
    random.Random(16).shuffle(mixed)
    started = time.monotonic()
    produce(settings, mixed)

    campaign = _first_campaign(settings, "harmful")
    detected_after = time.monotonic() - started
    campaign_id = campaign["campaign_id"]
    assert campaign["accounts"] >= 20 and campaign["flagged_share"] > 0.5
    for worker in workers:  # every worker follows it before the rest is sent
        worker.wait_for_log(f"campaign {campaign_id} is live (harmful)", timeout=60)

    # the rest: 90 new accounts and a second variant from every one of the 150
    produce(settings, ordinary[1_000:] + late)
    expected = {e.event_id for e in ordinary + variants}
    records = consume(
        settings,
        [topics.DECISIONS, topics.ACCOUNT_ACTIONS, topics.CAMPAIGNS],
        until=lambda rs: (
            expected <= set(_decided(rs, settings))
            and _marked_senders(_decided(rs, settings), late, campaign_id)
            <= {a["account_id"] for a in _of(rs, settings, topics.ACCOUNT_ACTIONS)}
        ),
        timeout=300,
    )
    decided = _decided(records, settings)
    missing = expected - set(decided)
    assert not missing, f"{len(missing)} events undecided"

    # one campaign: every marked variant names it, and readers join all its bands into it
    marked = {decided[e.event_id]["campaign_id"] for e in variants} - {None}
    assert marked == {campaign_id}
    scam_bands = [r for r in _of(records, settings, topics.CAMPAIGNS) if r["status"] == "harmful"]
    assert _one_campaign(scam_bands) == {campaign_id}
    # every variant sent after the campaign was seen is blocked for it, those the model alone
    # would let through too
    alone = _baseline(settings, late)
    marked_late = [e for e in late if decided[e.event_id]["campaign_id"] == campaign_id]
    unmarked = [e.event_id for e in late if e not in marked_late]
    assert not unmarked, f"{len(unmarked)} of {len(late)} later variants unmarked: {unmarked[:5]}"
    for event in marked_late:
        decision = decided[event.event_id]
        assert decision["action"] == "block", decision
        assert f"campaign:{campaign_id}" in decision["reasons"], decision
    let_through = sum(1 for e in marked_late if alone[e.event_id] != "block")
    assert let_through > 0, "the test needs variants the model alone does not block"

    # each of the 150 accounts: exactly one action
    actions = _of(records, settings, topics.ACCOUNT_ACTIONS)
    per_account = Counter(a["account_id"] for a in actions if a["account_id"].startswith("scam-"))
    assert len(per_account) == ACCOUNTS, len(per_account)
    assert set(per_account.values()) == {1}, per_account.most_common(3)
    assert all(
        f"campaign:{campaign_id}" in a["evidence"]
        for a in actions
        if a["account_id"].startswith("scam-")
    )

    # ordinary traffic keeps the decisions the model gives it alone
    baseline = _baseline(settings, ordinary)
    for event in ordinary:
        decision = decided[event.event_id]
        assert decision["action"] == baseline[event.event_id], decision
        assert not any(r.startswith("campaign:") for r in decision["reasons"]), decision
    # the operator's view: one live harmful campaign of them, and a note for each record on the
    # topic that is not the fleet's (anyone who may write to it can put one there)
    produce_bytes(
        settings.bootstrap_servers,
        settings.topic(topics.CAMPAIGNS),
        [(b"forged-band", b"\xff not json"), (b"forged-band-2", orjson.dumps(campaign))],
    )
    _use_env(monkeypatch, stream_env)
    capsys.readouterr()
    assert chatguard_main(["campaigns"]) == 0
    shown = capsys.readouterr()
    listed = [line for line in shown.out.splitlines() if "harmful" in line]
    assert len(listed) == 1 and listed[0].startswith(campaign_id), listed
    notes = [line for line in shown.err.splitlines() if "no fleet signature" in line]
    assert len(notes) == 2 and all(line.startswith("skipped ") for line in notes), shown.err
    print(
        f"\ncampaign {campaign_id} announced {detected_after:.1f} s after the first 60 variants "
        f"were sent ({campaign['accounts']} accounts then); "
        f"{let_through} of {len(late)} later variants the model alone would not block"
    )


def _counted_before_the_kill(
    settings: Settings, app_id: str, variants: list[OutgoingEvent]
) -> None:
    """Produce ``variants`` (fewer than 20 accounts), wait for their decisions (their band
    records went out with them), then until the campaign fold has folded and committed every
    band record on the topic."""
    produce(settings, variants)
    wanted = {v.event_id for v in variants}
    consume(
        settings,
        [topics.DECISIONS],
        until=lambda rs: wanted <= set(_decided(rs, settings)),
        timeout=120,
    )
    topic = settings.topic(topics.CAMPAIGN_FINGERPRINTS)
    written = end_offsets_total(settings.bootstrap_servers, topic)
    assert written > 0
    folded = wait_committed(
        settings.bootstrap_servers, f"{app_id}.campaigns", topic, written, timeout=120
    )
    assert folded >= written, f"{folded} of {written} band records folded"


def _formed_with_both_halves(settings: Settings, tag: str = "scam") -> None:
    """A harmful campaign was announced that counts accounts of the first 19 and the last 16."""
    campaign = _first_campaign(settings, "harmful")
    assert campaign["accounts"] >= 20
    counted = set(campaign["sample_accounts"])
    assert counted & {f"{tag}-acct-{i}" for i in range(19)}, "the first 19 were lost"
    assert counted & {f"{tag}-acct-{i}" for i in range(19, 35)}


def test_counts_survive_killed_workers_recovered_from_the_topic(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, unique_names: Any
) -> None:
    """19 accounts are counted, every worker is killed, and two new workers (empty data dirs:
    state from the band records alone) see 16 more: only with the first 19 does a band reach
    20, and the replay announces nothing by itself."""
    settings = stream_settings
    first = _start_fleet(start_worker)
    variants = _members("scam", scam_variants(35, seed=18))
    _counted_before_the_kill(settings, unique_names.app_id, variants[:19])
    for worker in first:
        worker.kill()
    second = _start_fleet(start_worker)
    for worker in second:  # each folds its partitions again up to the committed offsets
        worker.wait_for_log("folds offsets", timeout=60)
    produce(settings, variants[19:])
    _formed_with_both_halves(settings)


def _band_records(
    settings: Settings, texts: Sequence[str], first: int, at: float
) -> list[tuple[int, bytes, bytes]]:
    """``campaign.fingerprints`` records ``(partition, key, value)`` of ``texts`` as blocked
    events of accounts ``edge-acct-<first + i>``, written at ``at``: what workers send."""
    found = fingerprints(texts, {}, settings.topic_partitions)
    on: dict[int, list[list[Any]]] = {}
    for i, text in enumerate(texts):
        bands, partitions, tokens = found[text]
        assert bands, f"{text!r} gets no fingerprint"
        here: dict[int, list[int]] = {}
        for j, partition in enumerate(partitions):
            here.setdefault(partition, []).append(j)
        n = first + i
        for partition, indexes in here.items():
            fields = [f"edge-{n}", f"edge-acct-{n}", f"edge-conv-{n}", True, True]
            on.setdefault(partition, []).append([*fields, list(tokens), list(bands), indexes])
    out = []
    for partition, entries in on.items():
        key = entries[0][6][entries[0][7][0]].encode()
        value = {"kind": "campaign_fingerprints", "events": entries, "at": at}
        out.append((partition, key, orjson.dumps(value)))
    return out


def test_a_campaign_spread_over_a_windows_end_is_counted_whole(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """19 accounts counted just before a campaign window ends and 16 just after: neither
    window alone holds 20, the campaign does. (A fleet that counted per window alone missed
    it; CI once ran this file across the hour.)"""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_CAMPAIGNS": "on"})
    worker.wait_ready()
    window = settings.campaign_window_s
    boundary = (time.time() // window) * window  # the start of the current window
    texts = scam_variants(35, seed=20)
    fingerprints_topic = topics.CAMPAIGN_FINGERPRINTS
    earlier = _band_records(settings, texts[:19], 0, boundary - 20)
    produce_signed(settings, fingerprints_topic, earlier, boundary - 20)
    produce_signed(
        settings, fingerprints_topic, _band_records(settings, texts[19:], 19, boundary), boundary
    )
    _formed_with_both_halves(settings, "edge")


def test_an_account_escalated_on_both_sides_of_a_windows_end_gets_one_action(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """One campaign escalates an account just before the dedupe window ends and again just
    after: one action, not one per window. A second campaign's escalation, after them on the
    account's partition, shows both were handled."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_CAMPAIGNS": "on"})
    worker.wait_ready()
    window = settings.strike_window_s
    boundary = window_start(window)
    account = "edge-acct"

    def member(campaign_id: str, event_id: str, at: float) -> tuple[None, bytes, bytes]:
        value = {
            "kind": "campaign_member",
            "account_id": account,
            "campaign_id": campaign_id,
            "event_id": event_id,
            "category": "fraud",
            "at": at,
        }
        return None, account.encode(), orjson.dumps(value)

    members = topics.CAMPAIGN_MEMBERS
    produce_signed(settings, members, [member("cmp-edge", "e1", boundary - 20)], boundary - 20)
    produce_signed(
        settings,
        members,
        [member("cmp-edge", "e2", boundary), member("cmp-next", "e3", boundary)],
        boundary,
    )

    def ids(records: list[Record]) -> list[str]:
        return [a["action_id"] for a in _of(records, settings, topics.ACCOUNT_ACTIONS)]

    records = consume(
        settings,
        [topics.ACCOUNT_ACTIONS],
        until=lambda rs: f"{account}:campaign:cmp-next" in ids(rs),
        timeout=90,
    )
    assert ids(records).count(f"{account}:campaign:cmp-edge") == 1, ids(records)


def test_a_restarted_worker_goes_on_from_its_own_store(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    unique_names: Any,
    tmp_path: Path,
) -> None:
    """A worker killed after counting 19 accounts and restarted on its data dir goes on from
    the offsets its store holds, folding nothing again, and the 20th account makes the
    campaign."""
    settings = stream_settings
    on = {"CHATGUARD_CAMPAIGNS": "on", "CHATGUARD_DATA_DIR": str(tmp_path / "kept")}
    worker = start_worker(env=on)
    worker.wait_ready()
    variants = _members("scam", scam_variants(35, seed=19))
    _counted_before_the_kill(settings, unique_names.app_id, variants[:19])
    worker.kill()
    again = start_worker(env=on)
    again.wait_ready()
    produce(settings, variants[19:])
    _formed_with_both_halves(settings)
    assert "folds offsets" not in again.log_tail(10_000)


def test_a_fold_in_a_process_of_its_own_counts_for_the_workers(
    worker_process: Callable[..., WorkerProcess],
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
) -> None:
    """``CHATGUARD_CAMPAIGN_FOLD=separate``: the worker fingerprints and escalates, and
    ``python -m streams campaign-fold`` counts and announces."""
    settings = stream_settings
    separate = {"CHATGUARD_CAMPAIGNS": "on", "CHATGUARD_CAMPAIGN_FOLD": "separate"}
    worker = start_worker(env=separate)
    worker.wait_ready()
    # the fold is one of the fleet: the same settings, fleet key included (it signs campaigns)
    fold_command = [sys.executable, "-m", "streams", "campaign-fold"]
    own = ("CHATGUARD_WEB_PORT", "CHATGUARD_DATA_DIR")  # worker_process gives it its own
    fleet = {name: value for name, value in stream_env.items() if name not in own}
    port = str(free_port())  # the fold's own port; WorkerProcess.get asks CHATGUARD_WEB_PORT
    web = {"CHATGUARD_FOLD_WEB_PORT": port, "CHATGUARD_WEB_PORT": port}
    fold = worker_process(fold_command, {**fleet, **separate, **web})
    fold.wait_for_log("campaign fold: folding")
    variants = _members("scam", scam_variants(40, seed=23))
    produce(settings, variants[:30])
    campaign = _first_campaign(settings, "harmful")
    assert campaign["accounts"] >= 20
    worker.wait_for_log(f"campaign {campaign['campaign_id']} is live (harmful)", timeout=60)
    produce(settings, variants[30:])
    late = {v.event_id for v in variants[30:]}
    records = consume(
        settings,
        [topics.DECISIONS],
        until=lambda rs: late <= set(_decided(rs, settings)),
        timeout=120,
    )
    decided = _decided(records, settings)
    assert all(decided[e]["action"] == "block" for e in late)
    assert "announcing campaign" in fold.log_tail(100_000)
    assert "announcing campaign" not in worker.log_tail(100_000)
    status, body = fold.get("/health")
    assert (status, orjson.loads(body)) == (200, {"status": "ok"})
    exposition = fold.get("/metrics")[1].decode()
    folded = re.search(r"^chatguard_campaign_fingerprints_folded_total (\S+)$", exposition, re.M)
    assert folded is not None and float(folded.group(1)) > 0
    entries = re.search(
        r'^chatguard_state_entries\{store="campaign-bands"\} (\S+)$', exposition, re.M
    )
    assert entries is not None and float(entries.group(1)) > 0


def test_a_clean_greeting_is_a_clean_campaign_and_escalates_nothing(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    settings = stream_settings
    workers = _start_fleet(start_worker)
    ordinary = build_events(2_000, malformed_share=0.0, seed=17)
    greetings = _members("greeting", [GREETING] * (2 * ACCOUNTS))
    early, late = greetings[:60], greetings[60:]
    produce(settings, ordinary[:1_000] + early)

    campaign = _first_campaign(settings, "clean")
    campaign_id = campaign["campaign_id"]
    for worker in workers:
        worker.wait_for_log(f"campaign {campaign_id} is live (clean)", timeout=60)
    produce(settings, ordinary[1_000:] + late)

    expected = {e.event_id for e in ordinary + greetings}
    records = consume(
        settings,
        [topics.DECISIONS, topics.ACCOUNT_ACTIONS, topics.CAMPAIGNS, topics.CAMPAIGN_MEMBERS],
        until=lambda rs: expected <= set(_decided(rs, settings)),
        timeout=300,
    )
    decided = _decided(records, settings)
    assert expected <= set(decided)
    alone = _baseline(settings, [*ordinary, greetings[0]])
    assert alone[greetings[0].event_id] == "allow"
    for event in late:  # marked as members of the clean campaign, and nothing more
        decision = decided[event.event_id]
        assert decision["campaign_id"] == campaign_id and decision["action"] == "allow", decision
    greeting_campaigns = [
        r for r in _of(records, settings, topics.CAMPAIGNS) if r["campaign_id"] == campaign_id
    ]
    assert greeting_campaigns and all(r["status"] == "clean" for r in greeting_campaigns)
    # nothing escalated: no member record, no action for a greeting account
    assert _of(records, settings, topics.CAMPAIGN_MEMBERS) == []
    actions = _of(records, settings, topics.ACCOUNT_ACTIONS)
    assert not [a for a in actions if a["account_id"].startswith("greeting-")]
    for event in ordinary:  # ordinary traffic keeps its decisions
        decision = decided[event.event_id]
        assert decision["action"] == alone[event.event_id], decision
        assert not any(r.startswith("campaign:") for r in decision["reasons"]), decision
