"""docker-compose.yml and the Dockerfile agree with the project's real settings and commands.

There is no Docker engine here, so the files are parsed and checked instead of run.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from chatguard.cli import build_parser
from chatguard.settings import Settings, env_names
from devtools.broker import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as compose sets it when the shell sets none of the variables
    it interpolates (``${NAME:-default}`` becomes ``default``)."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


def _dockerfile_env() -> dict[str, str]:
    """``ENV A=1 \\ B=2`` lines of the Dockerfile as a dict."""
    joined = DOCKERFILE.replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` → {NAME: (host, port)}."""
    result = {}
    for item in value.split(","):
        name, address = item.split("://", 1)
        host, port = address.rsplit(":", 1)
        result[name] = (host, int(port))
    return result


def _parse_command(argv: list[str]) -> None:
    """Parse with the real ``chatguard`` parser; ``worker`` hands its options to Faust."""
    assert argv[0] == "chatguard", argv
    parser = build_parser()
    if argv[1] == "worker":
        args, _ = parser.parse_known_args(argv[1:])
    else:
        args = parser.parse_args(argv[1:])  # an unknown option exits: the test fails
    assert callable(args.handler)


def test_services_exist_and_dependencies_resolve(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "worker", "traffic"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"  # the tested version


def test_every_chatguard_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = set(env_names())
    dockerfile_env = {k: v for k, v in _dockerfile_env().items() if k.startswith("CHATGUARD_")}
    assert dockerfile_env and set(dockerfile_env) <= known
    Settings.from_env(dockerfile_env)
    for name, service in compose["services"].items():
        env = _environment(service)
        chatguard_env = {k: v for k, v in env.items() if k.startswith("CHATGUARD_")}
        unknown = set(chatguard_env) - known
        assert not unknown, f"{name} sets unknown variables {unknown}"
        Settings.from_env({**dockerfile_env, **chatguard_env})  # and every value parses


def test_kafka_is_a_consistent_single_kraft_node(compose: dict[str, Any]) -> None:
    kafka = _environment(compose["services"]["kafka"])
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = _listeners(kafka["KAFKA_LISTENERS"])
    advertised = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    controller = kafka["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) <= set(protocols)
    assert controller in listeners and controller not in advertised
    node, voter = kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == kafka["KAFKA_NODE_ID"]
    assert int(voter.rsplit(":", 1)[1]) == listeners[controller][1]
    for name, (_, port) in advertised.items():
        assert listeners[name][1] == port, f"{name} is advertised on a port it does not listen on"
    # exactly-once and consumer groups on one node need replication factor 1 internals
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert kafka[key] == "1", key


def test_clients_reach_the_brokers_advertised_listener(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka = _environment(services["kafka"])
    advertised = _listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    host, port = advertised[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert host in ("kafka", services["kafka"].get("hostname"))  # a name on the compose network
    for name in ("worker", "traffic"):
        settings = Settings.from_env(_environment(services[name]))
        assert settings.bootstrap_servers == f"{host}:{port}", name
        assert "kafka" in services[name]["depends_on"], name
    # the host's tools (chatguard produce/tail with defaults) reach the EXTERNAL listener
    external = [a for n, a in advertised.items() if a[0] in ("localhost", "127.0.0.1")]
    assert external, "no listener advertised to the host"
    published = {int(p.split(":")[0]): int(p.split(":")[1]) for p in services["kafka"]["ports"]}
    default_port = int(Settings().bootstrap_servers.rsplit(":", 1)[1])
    assert published.get(default_port) == external[0][1]


def test_worker_scales_and_runs_real_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]
    assert "ports" not in worker, "a fixed host port stops `--scale worker=3`"
    assert "container_name" not in worker, "a fixed name stops `--scale worker=3`"
    web_port = Settings.from_env(_environment(worker)).web_port
    assert str(web_port) in [str(p) for p in worker.get("expose", [])]
    for name in ("worker", "traffic"):
        command = services[name]["command"]
        _parse_command(command if isinstance(command, list) else shlex.split(command))
    cmd = re.search(r"^CMD (\[.*\])", DOCKERFILE, re.MULTILINE)
    assert cmd is not None
    _parse_command(yaml.safe_load(cmd.group(1)))
    assert yaml.safe_load(cmd.group(1)) == worker["command"]


def test_image_bakes_the_default_model_into_the_shared_registry(
    compose: dict[str, Any],
) -> None:
    runs = [
        line[4:] for line in DOCKERFILE.replace("\\\n", " ").splitlines() if line.startswith("RUN ")
    ]
    steps = [step.strip() for run in runs for step in re.split(r"&&|;", run)]
    train = [step for step in steps if step.startswith("chatguard train")]
    assert train and "--promote" in train[0]
    _parse_command(shlex.split(train[0]))
    env = _dockerfile_env()
    mounts = {
        str(PurePosixPath(m.split(":")[1])): m.split(":")[0]
        for m in services_volumes(compose["services"]["worker"])
    }
    assert env["CHATGUARD_REGISTRY"] in mounts, "workers must share the registry to hot-reload"
    assert str(PurePosixPath(env["CHATGUARD_LABEL_STORE"]).parent) in mounts
    declared = set(compose.get("volumes") or {})
    for service in compose["services"].values():
        for mount in services_volumes(service):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"named volume {source} is not declared"


def services_volumes(service: dict[str, Any]) -> list[str]:
    return [str(v) for v in service.get("volumes", [])]


def test_installed_package_carries_the_data_its_commands_read() -> None:
    """The image installs with ``pip install .`` (not editable): data files must be package data."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"].get(
        "package-data", {}
    )
    needed = ["training/seed/seed_corpus.jsonl", "devtools/samples/traffic.jsonl"]
    # the normalizer's word lists and tables: one missing fails every message in the image
    needed += [str(path.relative_to(ROOT)) for path in sorted((ROOT / "models").glob("*.txt"))]
    for path in needed:
        assert (ROOT / path).is_file(), path
        package, relative = path.split("/", 1)
        globs = package_data.get(package, [])
        assert any(fnmatch(relative, g) for g in globs), f"{path} is not package data"


def test_workers_get_only_the_public_key_and_no_private_key_ships_in_the_image(
    compose: dict[str, Any],
) -> None:
    env = _dockerfile_env()
    private_dir = str(PurePosixPath(env["CHATGUARD_MODEL_SIGNING_KEY"]).parent)
    public_dir = str(PurePosixPath(env["CHATGUARD_MODEL_PUBLIC_KEY"]).parent)
    assert private_dir != public_dir
    services = compose["services"]

    def mounted(service: dict[str, Any]) -> set[str]:
        return {str(PurePosixPath(m.split(":")[1])) for m in services_volumes(service)}

    assert public_dir in mounted(services["worker"])
    assert private_dir not in mounted(services["worker"])
    assert {private_dir, public_dir, env["CHATGUARD_REGISTRY"]} <= mounted(services["keys"])
    assert "keys" in services["worker"]["depends_on"]
    assert _environment(services["worker"])["CHATGUARD_WEB_HOST"] == "0.0.0.0"
    # the build's throwaway private key is removed in the RUN that made it
    run = next(line for line in DOCKERFILE.replace("\\\n", " ").splitlines() if "keys init" in line)
    assert "rm /tmp/build-signing.key" in run


def test_services_restart_and_the_worker_is_health_checked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "worker"):  # long-running: back after a crash or a reboot
        assert services[name].get("restart") in ("unless-stopped", "always"), name
    assert services["traffic"].get("restart") in ("on-failure", "no")  # a one-off job
    check = services["worker"]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    url = re.search(r"http://[^'\" ]+", " ".join(check["test"]))
    assert url is not None
    web_port = Settings.from_env(_environment(services["worker"])).web_port
    assert url.group(0) == f"http://127.0.0.1:{web_port}/health"


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (None, False)])
def test_worker_healthcheck_command_fails_unless_health_answers_200(
    compose: dict[str, Any], status: int | None, healthy: bool
) -> None:
    """Run the healthcheck's own command against a stand-in ``/health`` on a free port."""
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health" and status else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens: the check must fail, not hang
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    web_port = Settings.from_env(_environment(compose["services"]["worker"])).web_port
    argv = [
        arg.replace(f"127.0.0.1:{web_port}", f"127.0.0.1:{port}")
        for arg in compose["services"]["worker"]["healthcheck"]["test"][1:]
    ]
    assert argv[0] == "python"
    try:
        result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, timeout=30)
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr


def test_a_separate_campaign_fold_is_one_of_the_fleet_and_health_checked(
    compose: dict[str, Any],
) -> None:
    """The ``campaign-fold`` service runs the real command with the workers' group and fleet
    key (workers follow only campaigns it signs), on its own health-checked port."""
    services = compose["services"]
    fold, worker = services["campaign-fold"], services["worker"]
    assert fold["profiles"] == ["campaigns"]
    _parse_command(fold["command"])
    assert fold["command"] == ["chatguard", "campaign-fold"]
    assert fold.get("restart") in ("unless-stopped", "always")
    settings = Settings.from_env(_environment(fold))
    worker_settings = Settings.from_env(_environment(worker))
    assert (settings.campaigns, settings.campaign_fold) == (True, "separate")
    assert settings.app_id == worker_settings.app_id
    assert settings.fleet_key_file == worker_settings.fleet_key_file
    assert settings.topic_partitions == worker_settings.topic_partitions
    assert (worker_settings.campaigns, worker_settings.campaign_fold) == (False, "worker")
    assert "ports" not in fold
    assert str(settings.fold_web_port) in [str(p) for p in fold["expose"]]
    url = re.search(r"http://[^'\" ]+", " ".join(fold["healthcheck"]["test"]))
    assert url is not None
    assert url.group(0) == f"http://127.0.0.1:{settings.fold_web_port}/health"
