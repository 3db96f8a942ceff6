"""The state gauges on a live worker: the campaign, sender and recent-events stores it fills
from real traffic show up on ``/metrics`` as entries and bytes (the reporters store too, empty
without reports)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatguard.settings import Settings
from devtools.produce import build_events
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import produce

pytestmark = pytest.mark.e2e

STORES = (
    "campaign-bands",
    "sender-activity",
    "recent-events",
    "account-strikes",
    "reporters",
    "contact-evidence",
    "campaign-accounts",
)
# the reporters store fills with user reports, contact-evidence with blocks naming contacts,
# campaign-accounts with accounts a harmful campaign escalated
FILLED_BY_TRAFFIC = STORES[:4]


def _state(worker: WorkerProcess) -> dict[str, tuple[float, float]]:
    """store → (entries, bytes), as ``/metrics`` reports them now."""
    status, body = worker.get("/metrics")
    assert status == 200
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        if family.name in ("chatguard_state_entries", "chatguard_state_bytes"):
            for sample in family.samples:
                found.setdefault(sample.labels["store"], {})[family.name] = sample.value
    return {
        store: (values["chatguard_state_entries"], values["chatguard_state_bytes"])
        for store, values in found.items()
    }


def test_the_state_gauges_report_what_the_stores_hold(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    worker = start_worker(env={"CHATGUARD_CAMPAIGNS": "on", "CHATGUARD_SENDERS": "on"})
    worker.wait_ready()
    assert _state(worker) == dict.fromkeys(STORES, (0.0, 0.0))

    produce(stream_settings, build_events(300, malformed_share=0.0, seed=22))

    def filled(state: dict[str, tuple[float, float]]) -> bool:
        # every fingerprinted event writes 8 band keys, and 300 events have many more
        filled = [state.get(store, (0.0, 0.0)) for store in FILLED_BY_TRAFFIC]
        return all(n > 0 and size > 0 for n, size in filled) and (state["campaign-bands"][0] >= 8)

    deadline = time.monotonic() + 120
    state = _state(worker)
    while not filled(state):
        assert time.monotonic() < deadline, f"the stores never reported state: {state}"
        time.sleep(0.5)  # polling /metrics, not waiting for an assumed duration
        state = _state(worker)
    assert set(state) == set(STORES)
