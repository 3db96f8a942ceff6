"""Scoring in a process of its own (``CHATGUARD_SCORING=process``): the same scores as in the
worker, a child over budget killed, a child that dies costing only the event that killed it, and
a new model version reaching the child. The stand-in models below are pickled to the child, so
they live at module level."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import numpy as np
import orjson
import pytest

from chatguard.settings import Settings
from models.artifact import LoadedModel
from models.classifier import ModerationClassifier
from models.normalize import Analysis
from models.policy import Policy
from models.registry import ModelRegistry
from models.rules import Contacts, extract_contacts
from streams import metrics, topics
from streams.decide import score_events
from streams.decoding import Event, decode
from streams.model_holder import ModelHolder, ServingModel
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage
from streams.scoring import MODEL_LOAD_BUDGET_S, TIMEOUT_KIND, Scorer
from streams.scoring_child import WARM_UP_TEXT
from streams.scoring_process import _PRELOAD
from tests.agents.harness import chat
from tests.conftest import ModelKeys

SLEEP_PILL = "SLEEP-PILL"
DEATH_PILL = "DEATH-PILL"


class PillModel:
    """The real model, except that a text with ``SLEEP_PILL`` sleeps for a minute and one with
    ``DEATH_PILL`` ends the process that scores it."""

    def __init__(self, model: Any, version: str | None = None) -> None:
        self._model = model
        self.labels = model.labels
        self.version = version or model.version

    def score(self, texts: Sequence[str]) -> Any:
        if any(DEATH_PILL in text for text in texts):
            os._exit(3)
        if any(SLEEP_PILL in text for text in texts):
            time.sleep(60)
        return self._model.score(texts)


class ConstantModel:
    """Scores every text ``value`` in every category."""

    def __init__(self, labels: tuple[str, ...], version: str, value: float) -> None:
        self.labels, self.version, self.value = labels, version, value

    def score(self, texts: Sequence[str]) -> Any:
        return np.full((len(texts), len(self.labels)), self.value)


class HangsInChild:
    """The real model, except that in any process but the one that made it, its first call
    (the child's warm-up when the model arrives) never returns."""

    def __init__(self, model: Any, version: str) -> None:
        self._model, self._home = model, os.getpid()
        self.labels, self.version = model.labels, version

    def score(self, texts: Sequence[str]) -> Any:
        if os.getpid() != self._home:
            time.sleep(3_600)
        return self._model.score(texts)


class ShortOfDescriptors:
    """The real model, except that past the warm-up every call fails with EMFILE."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.labels, self.version = model.labels, f"{model.version}-short"

    def score(self, texts: Sequence[str]) -> Any:
        if list(texts) != [WARM_UP_TEXT]:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return self._model.score(texts)


@pytest.fixture
def serving(default_model_registry: ModelRegistry) -> ServingModel:
    model = default_model_registry.load_current()
    return ServingModel(PillModel(model), Policy.from_model(model))


@pytest.fixture
async def scorer() -> AsyncIterator[Scorer]:
    scorer = Scorer(2.0, in_process=False)
    yield scorer
    await scorer.close()


def _event(event_id: str, text: str) -> Event:
    event = decode(
        chat(event_id, text), "chat.messages", max_event_bytes=1_000_000, max_text_chars=20_000
    )
    assert isinstance(event, Event)
    return event


TEXTS = ["see you at dinner", "加我微信 a8k9 领红包", "ｆｒｅｅ ｍｏｎｅｙ click here", "你几点到"]


async def test_the_process_finds_the_contacts_the_worker_would(serving: ServingModel) -> None:
    texts = [*TEXTS, "pay at evil-pay.top or call 13912345678", "qq 12345678 见"]
    events = [_event(f"e{i}", text) for i, text in enumerate(texts)]
    expected = {t: extract_contacts(t) for t in texts if extract_contacts(t) != Contacts()}
    for in_process in (False, True):
        scorer = Scorer(2.0, in_process=in_process, find_contacts=True)
        try:
            await scorer.ready(serving)
            scoring = scorer.begin(serving, events, {})
            await scorer.scored(scoring)
        finally:
            await scorer.close()
        assert scoring.contacts is not None
        # every text with a contact is there, searched as the worker would; texts the
        # normalizer shows hold none may be left out
        assert {t: c for t, c in scoring.contacts.items() if c != Contacts()} == expected


# over half a megabyte each way (the texts, then their normalized forms): more than a socket
# pair buffers, so the event loop reads each answer in many pieces
LONG_TEXTS = [f"{i} " + "加我微信 a8k9 领红包 see you at dinner " * 600 for i in range(32)]


@pytest.mark.parametrize("texts", [TEXTS, LONG_TEXTS], ids=["short", "over-half-a-megabyte"])
async def test_the_process_scores_what_the_worker_would(
    serving: ServingModel, scorer: Scorer, texts: list[str]
) -> None:
    events = [_event(f"e{i}", text) for i, text in enumerate(texts)]
    here: dict[str, Analysis] = {}
    expected, _ = score_events(serving, events, here)
    there: dict[str, Analysis] = {}
    scores, failures = await scorer.score(serving, events, there)
    assert failures == []
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    assert there == here  # the rules read the child's normalized texts
    assert scorer._process is not None and scorer._process._process.pid != os.getpid()


async def test_batches_sent_back_to_back_each_get_their_own_answer(
    serving: ServingModel, scorer: Scorer
) -> None:
    """A reader hands the next batch over before it waits for the last: the child answers in
    the order the batches went, and each answer reaches its own batch."""
    batches = [[_event(f"{n}{i}", f"{text} {n}") for i, text in enumerate(TEXTS)] for n in "abc"]
    await scorer.ready(serving)
    scorings = [scorer.begin(serving, events, {}) for events in batches]
    for scoring, events in reversed(list(zip(scorings, batches, strict=True))):
        expected, _ = score_events(serving, events, {})
        scores, failures = await scorer.scored(scoring)
        assert failures == []
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
        assert set(scoring.memo or {}) == {event.text for event in events}


async def test_an_event_over_budget_kills_the_child_and_fails_alone(
    serving: ServingModel, scorer: Scorer
) -> None:
    events = [_event("a", "see you soon"), _event("slow", SLEEP_PILL), _event("b", "ok")]
    await scorer.warm(serving)
    assert scorer._process is not None
    first = scorer._process._process
    restarts = metrics.SCORING_PROCESS_STARTS.labels(cause="budget")
    before = restarts._value.get()
    scores, failures = await scorer.score(serving, events)
    assert [(f.index, f.kind) for f in failures] == [(1, TIMEOUT_KIND)]
    assert np.isfinite(scores[[0, 2]]).all() and np.isnan(scores[1]).all()
    assert first.exitcode is not None, "the child that overran the budget still runs"
    # killed twice over budget (the batch, then the slow event alone), so started twice after
    assert restarts._value.get() == before + 2
    again, failures = await scorer.score(serving, [_event("c", "fine")])
    assert failures == [] and np.isfinite(again).all()


async def test_a_child_that_dies_costs_only_the_event_that_killed_it(
    default_model_registry: ModelRegistry,
) -> None:
    settings = Settings.from_env({"CHATGUARD_SCORING": "process", "CHATGUARD_TOPIC_PREFIX": "t."})
    holder = ModelHolder(settings)
    model = default_model_registry.load_current()
    holder.use(ServingModel(PillModel(model), Policy.from_model(model)))
    sent: list[Outgoing] = []

    class Sink:
        async def send_all(self, records: Sequence[Outgoing]) -> None:
            sent.extend(records)

        async def delivered(self) -> None:
            pass

    pipeline = ModerationPipeline(settings, holder, Sink())
    texts = {"a": "see you soon", "poison": f"hello {DEATH_PILL}", "b": "加我微信 a8k9 领红包"}
    batch = [
        RawMessage(settings.topic(topics.CHAT_MESSAGES), 0, i, None, chat(event_id, text))
        for i, (event_id, text) in enumerate(texts.items())
    ]
    died = metrics.SCORING_PROCESS_STARTS.labels(cause="died")
    before = died._value.get()
    try:
        await pipeline.moderate(batch)
        await pipeline.moderate(batch[:1])  # a fresh child serves the next batch
    finally:
        await pipeline.close()

    def values(topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in sent if r.topic == settings.topic(topic)]

    dead = values(topics.DEAD_LETTER)
    assert [(d["event_id"], d["error_kind"]) for d in dead] == [("poison", "internal_error")]
    assert "scoring process exited" in dead[0]["error"]
    assert died._value.get() >= before + 1
    assert [d["event_id"] for d in values(topics.DECISIONS)] == ["a", "b", "a"]


async def test_a_shortage_in_the_child_reaches_the_worker_as_that_oserror(
    serving: ServingModel, scorer: Scorer
) -> None:
    """Not the texts' fault, so not their failures: the worker scores the batch again (the
    pipeline, after a pause) rather than dead-lettering it as ``scoring_failed``."""
    short = ServingModel(ShortOfDescriptors(serving.model), serving.policy)
    with pytest.raises(OSError) as raised:
        await scorer.score(short, [_event("a", "see you soon"), _event("b", "ok")])
    assert raised.value.errno == errno.EMFILE
    assert scorer._process is not None
    child = scorer._process._process
    # the same child goes on, with the next version
    scores, failures = await scorer.score(serving, [_event("c", "fine")])
    assert failures == [] and np.isfinite(scores).all()
    assert scorer._process._process is child


async def test_a_new_model_version_reaches_the_child(serving: ServingModel, scorer: Scorer) -> None:
    events = [_event("a", "see you soon")]
    labels = serving.model.labels
    for version, value in (("v-one", 0.25), ("v-two", 0.75)):
        constant = ServingModel(ConstantModel(labels, version, value), serving.policy)
        scores, _ = await scorer.score(constant, events)
        assert (scores == value).all()


async def test_a_child_that_hangs_taking_a_model_is_killed_and_the_thread_scores_it(
    serving: ServingModel,
) -> None:
    """Nothing waits for a process that will never be ready: the version is scored in the
    worker's process, and the next version goes to a fresh child again."""
    scorer = Scorer(2.0, in_process=False, load_budget_s=3.0)
    try:
        events = [_event(f"e{i}", text) for i, text in enumerate(TEXTS)]
        expected, _ = score_events(serving, events, {})
        before = metrics.SCORING_IN_THREAD._value.get()
        hanging = ServingModel(HangsInChild(serving.model, "v-hangs"), serving.policy)
        memo: dict[str, Analysis] = {}
        scores, failures = await scorer.score(hanging, events, memo)
        assert failures == []
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
        assert set(memo) == set(TEXTS)  # the rules still get the normalized texts
        assert metrics.SCORING_IN_THREAD._value.get() == before + 1
        assert scorer._process is not None and not scorer._process.holds(hanging.model)
        scores, _ = await scorer.score(hanging, events)  # no second wait for that version
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
        assert metrics.SCORING_IN_THREAD._value.get() == before + 1
        labels = serving.model.labels
        constant = ServingModel(ConstantModel(labels, "v-next", 0.5), serving.policy)
        # a fresh child taking a model took over 3 s in one CI run on a loaded machine: the
        # short budget is for the hang above, the next version gets the default one
        scorer.load_budget_s = MODEL_LOAD_BUDGET_S
        scores, _ = await scorer.score(constant, events)
        assert (scores == 0.5).all() and scorer._process.holds(constant.model)
    finally:
        await scorer.close()


def test_the_fork_server_and_its_children_import_none_of_the_workers_kafka_and_web_code() -> None:
    """Each module the fork server preloads is in every scoring child's memory (and counted
    again in the fork server's): Faust, its web server and the metrics stay in the worker."""
    script = (
        "import importlib, sys\n"
        f"for name in {_PRELOAD!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    imported = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "sklearn" in imported  # what unpickling a model needs is there
    assert not {"faust", "mode", "aiohttp", "aiokafka", "prometheus_client"} & set(imported)


@pytest.mark.parametrize("scoring", ["process", "thread"])
def test_a_worker_keeps_its_copy_of_a_model_that_scores_in_a_child_cold(
    default_model_registry: ModelRegistry, model_keys: ModelKeys, scoring: str
) -> None:
    """Loading scores a probe, which builds the model's lookup tables and dense weights (about
    130 MB of the default model). A worker whose model scores in a child drops them from its
    own copy; one that scores in its own thread keeps them."""
    settings = Settings.from_env(
        {
            "CHATGUARD_SCORING": scoring,
            "CHATGUARD_REGISTRY": str(default_model_registry.root),
            "CHATGUARD_MODEL_PUBLIC_KEY": str(model_keys.public),
        }
    )
    serving = ModelHolder(settings).load_current()
    classifier = cast(LoadedModel, serving.model).scorer
    assert isinstance(classifier, ModerationClassifier)
    cached = [
        "_dense_weights_cache" in vars(classifier),
        "_lookup" in vars(classifier.features_.char_vocabulary_),
    ]
    assert cached == [scoring == "thread"] * 2
    texts = ["see you soon", "加我微信 a8k9 领红包"]
    warm = default_model_registry.load_current().score(texts)
    assert np.array_equal(serving.model.score(texts), warm)  # built again when needed
