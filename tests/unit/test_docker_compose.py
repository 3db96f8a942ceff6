"""docker-compose.yml and the Dockerfile agree with the project's real settings and commands.

There is no Docker engine here, so the file is parsed and checked instead of run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatguard.cli import build_parser
from chatguard.settings import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_services_exist_and_dependencies_resolve(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "worker", "traffic"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"


def test_every_chatguard_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = set(env_names())
    dockerfile_env = set(re.findall(r"(CHATGUARD_[A-Z_]+)=", (ROOT / "Dockerfile").read_text()))
    for name, service in compose["services"].items():
        env = _environment(service)
        unknown = {k for k in env if k.startswith("CHATGUARD_")} - known
        assert not unknown, f"{name} sets unknown variables {unknown}"
        chatguard_env = {k: v for k, v in env.items() if k.startswith("CHATGUARD_")}
        Settings.from_env(chatguard_env)  # and every value parses
    assert dockerfile_env and dockerfile_env <= known


def test_workers_reach_the_brokers_advertised_listener(compose: dict[str, Any]) -> None:
    kafka = _environment(compose["services"]["kafka"])
    advertised = dict(
        (name, address.split("//", 1)[1])
        for name, address in (
            item.split(":", 1) for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
        )
    )
    internal = advertised[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert (
        kafka["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    )  # exactly-once on one node
    for name in ("worker", "traffic"):
        settings = Settings.from_env(_environment(compose["services"][name]))
        assert settings.bootstrap_servers == internal, name
    host_ports = [p.split(":")[0] for p in compose["services"]["kafka"]["ports"]]
    assert "9092" in host_ports  # the local tools' default bootstrap reaches it from the host


def test_worker_scales_and_runs_real_commands(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "ports" not in worker, "a fixed host port stops `--scale worker=3`"
    assert "container_name" not in worker
    web_port = Settings.from_env(_environment(worker)).web_port
    assert str(web_port) in [str(p) for p in worker.get("expose", [])]
    parser = build_parser()
    commands = [worker["command"], compose["services"]["traffic"]["command"]]
    cmd = re.search(r"^CMD (\[.*\])", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd is not None
    commands.append(yaml.safe_load(cmd.group(1)))
    for command in commands:
        argv = command if isinstance(command, list) else shlex.split(command)
        assert argv[0] == "chatguard"
        args, _ = parser.parse_known_args(argv[1:])  # worker passes the rest to Faust
        assert callable(args.handler)
