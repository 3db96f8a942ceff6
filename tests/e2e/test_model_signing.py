"""Signed models against a real worker: a crafted ``model.joblib`` (unsigned, signed by another
key, or a signed version's file swapped afterwards) is refused on start and on hot reload before
it is unpickled — the marker file its unpickling would write never appears — and a running
worker keeps deciding with the model it had."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chatguard.settings import Settings
from devtools.produce import build_events
from models.registry import ModelRegistry
from tests.conftest import ModelKeys
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, produce
from tests.marker_model import VARIANTS, Variant, plant

pytestmark = pytest.mark.e2e

REASON: dict[Variant, str] = {
    "unsigned": "unsigned",
    "wrongly_signed": "bad_signature",
    "tampered": "tampered",
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_crafted_model_is_refused_at_start(
    start_worker: Callable[..., WorkerProcess],
    stream_env: dict[str, str],
    model_keys: ModelKeys,
    tmp_path: Path,
    variant: Variant,
) -> None:
    registry = ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"]))
    marker = tmp_path / "marker"
    plant(registry, marker, variant, model_keys.private_key)
    worker = start_worker()
    assert worker.process.wait(timeout=90) == 2
    log = worker.log_tail()
    assert "cannot start without a model" in log
    assert {"unsigned": "is not signed", "wrongly_signed": "bad signature", "tampered": "sha256"}[
        variant
    ] in log
    assert not marker.exists(), "the crafted pickle ran in the worker"


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_crafted_model_promoted_under_a_running_worker_is_refused(
    start_worker: Callable[..., WorkerProcess],
    stream_env: dict[str, str],
    stream_settings: Settings,
    model_keys: ModelKeys,
    tmp_path: Path,
    variant: Variant,
) -> None:
    registry = ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"]))
    good = registry.current_version()
    assert good is not None
    worker = start_worker()
    worker.wait_ready()
    marker = tmp_path / "marker"
    crafted = plant(registry, marker, variant, model_keys.private_key)

    worker.wait_for_log(f"REFUSED model {crafted} ({REASON[variant]})", timeout=60)
    status, body = worker.get("/ready")
    assert status == 200, "a refused reload must not make the worker unready"
    ready = json.loads(body)
    assert ready["model_version"] == good
    assert ready["refused_model"] == {"version": crafted, "reason": REASON[variant]}
    assert b"/" not in body, "a filesystem path in /ready"
    metrics = worker.get("/metrics")[1].decode()
    assert (
        f'chatguard_model_refused{{reason="{REASON[variant]}",version="{crafted}"}} 1.0' in metrics
    )

    events = build_events(200, seed=71)
    produce(stream_settings, events)
    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(events),
        timeout=90,
    )
    assert accounted(records, stream_settings) == {e.event_id for e in events}
    decided_by = {
        r.json()["model_version"]
        for r in records
        if r.topic == stream_settings.topic("moderation.decisions")
    }
    assert decided_by == {good}
    assert not marker.exists(), "the crafted pickle ran in the worker"
    assert worker.returncode is None

    # the operator puts CURRENT back: the alert is over (it stayed on /ready and in the metrics)
    registry.promote(good)
    worker.wait_for_log(f"CURRENT names the serving model {good} again", timeout=60)
    ready = json.loads(worker.get("/ready")[1])
    assert ready["refused_model"] is None and ready.get("last_model_error") is None, ready
    assert "chatguard_model_refused{" not in worker.get("/metrics")[1].decode()


def test_a_worker_without_a_public_key_refuses_to_start_and_says_how_to_make_one(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    worker = start_worker(env={"CHATGUARD_MODEL_PUBLIC_KEY": str(tmp_path / "absent.pub")})
    assert worker.process.wait(timeout=90) == 2
    log = worker.log_tail()
    assert "no model verification (public) key" in log
    assert "chatguard keys init" in log


def test_the_explicit_dev_override_serves_an_unsigned_model_and_warns(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str], tmp_path: Path
) -> None:
    registry = ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"]))
    folder = registry.path(registry.current_version() or "")
    folder.chmod(0o755)
    (folder / "signature.json").unlink()
    worker = start_worker(
        env={
            "CHATGUARD_ALLOW_UNSIGNED_MODELS": "true",
            "CHATGUARD_MODEL_PUBLIC_KEY": str(tmp_path / "absent.pub"),
        }
    )
    worker.wait_ready()
    assert "model signatures are NOT checked" in worker.log_path.read_text(errors="replace")
