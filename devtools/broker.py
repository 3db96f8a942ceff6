"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1 for development, tests and CI.

Kafka's own jars are resolved from Maven Central with ``deploy/kafka/pom.xml`` and cached outside
the repository, so a second start needs no network. ``chatguard broker start|stop|status|logs``
drives it; tests use :class:`LocalBroker` directly. With ``--acls`` it requires SASL/SCRAM from
every client and authorizes each principal with Kafka's ``StandardAuthorizer``
(``chatguard.acls`` says who may do what).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "3.9.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
DEFAULT_PORT = 9092
SCRAM_MECHANISM = "SCRAM-SHA-512"
PRINCIPALS_FILE = "principals.json"


class BrokerError(RuntimeError):
    """The local broker could not be set up, started or stopped; the message says why."""


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 url-safe base64 characters) that never starts with ``-``.

    Kafka's storage formatter would read a leading ``-`` as an option and fail (1 id in 64);
    Kafka's own ``Uuid.randomUuid`` draws again in that case, and so does this.
    """
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


def jar_cache_dir() -> Path:
    """Where the resolved Kafka jars live: outside the repo, shared by every checkout."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chatguard" / f"kafka-{KAFKA_VERSION}" / "libs"


@dataclass(frozen=True)
class ScramUser:
    """A SASL/SCRAM user created when the broker's storage is formatted."""

    username: str
    password: str

    @classmethod
    def parse(cls, spec: str) -> ScramUser:
        username, sep, password = spec.partition(":")
        if not sep or not username or not password:
            msg = f"--sasl-scram expects USER:PASSWORD, got {spec!r}"
            raise BrokerError(msg)
        return cls(username, password)


@dataclass
class LocalBroker:
    """One broker+controller process with its own data dir, config, log file and pid file."""

    port: int = DEFAULT_PORT
    controller_port: int | None = None
    data_dir: Path | None = None
    scram_user: ScramUser | None = None
    heap: str = "1g"
    # SCRAM users per role and StandardAuthorizer; also on when the data dir was made with ACLs
    acls: bool = False
    principals: Mapping[str, ScramUser] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.controller_port is None:
            self.controller_port = self.port + 1
        if self.data_dir is None:
            self.data_dir = REPO_ROOT / ".run" / f"kafka-{self.port}"
        self.data_dir = Path(self.data_dir).resolve()
        if self.acls or self.principals_file.exists():
            self.acls = True
            self.principals = self._principals()
            self.scram_user = self.principals["admin"]

    # -- where things are --------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "broker.pid"

    @property
    def config_file(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "server.properties"

    @property
    def principals_file(self) -> Path:
        """Role → SCRAM username and password of an ACL broker (mode 0600)."""
        assert self.data_dir is not None
        return self.data_dir / PRINCIPALS_FILE

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 120.0, quiet: bool = False) -> None:
        """Start the broker and return once a client can fetch metadata from it."""
        say = (lambda _msg: None) if quiet else _say
        if self.pid() is not None:
            say(f"broker already running (pid {self.pid()}), bootstrap {self.bootstrap}")
            return
        java = require_java()
        libs = ensure_jars(say)
        for port in (self.port, self.controller_port):
            assert port is not None
            check_port_free(port)
        assert self.data_dir is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._server_properties())
        self._format_storage(java, libs)
        say(f"starting Kafka {KAFKA_VERSION} on {self.bootstrap} (log: {self.log_file})")
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [*self._java_command(java, libs), "kafka.Kafka", str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the shell that started it; stopped by pid
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                msg = (
                    f"Kafka exited with code {process.returncode} during start-up.\n"
                    f"Last lines of {self.log_file}:\n{self.log_tail()}"
                )
                raise BrokerError(msg)
            if self.answers(timeout=5.0):
                break
            if time.monotonic() > deadline:
                self.stop(quiet=True)
                msg = (
                    f"Kafka did not answer a metadata request on {self.bootstrap} within "
                    f"{timeout:.0f}s.\nLast lines of {self.log_file}:\n{self.log_tail()}"
                )
                raise BrokerError(msg)
            time.sleep(0.5)
        say(f"broker ready: bootstrap {self.bootstrap} (pid {process.pid})")

    def stop(self, timeout: float = 30.0, quiet: bool = False) -> None:
        """Stop the broker: SIGTERM for a clean shutdown, SIGKILL if it does not exit in time."""
        say = (lambda _msg: None) if quiet else _say
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            say(f"no broker running with its data in {self.data_dir}")
            return
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10.0):
                msg = f"Kafka (pid {pid}) survived SIGKILL"
                raise BrokerError(msg)
        self.pid_file.unlink(missing_ok=True)
        say(f"broker (pid {pid}, data in {self.data_dir}) stopped")

    def pid(self) -> int | None:
        """The broker's pid if its process is alive and is really our Kafka, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_kafka_process(pid, self.config_file) else None

    def answers(self, timeout: float = 5.0) -> bool:
        """True when the Kafka protocol answers a metadata request on the bootstrap address."""
        quiet_logger = logging.getLogger("aiokafka")
        level = quiet_logger.level
        quiet_logger.setLevel(logging.CRITICAL)  # "Unable connect" is expected while it starts
        try:
            return asyncio.run(_fetch_metadata(self.bootstrap, self.scram_user, timeout))
        except Exception:
            return False
        finally:
            quiet_logger.setLevel(level)

    def log_tail(self, lines: int = 40) -> str:
        try:
            content = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log file)"
        return "\n".join(content[-lines:])

    # -- internals ---------------------------------------------------------------------------
    def _java_command(self, java: str, libs: Path) -> list[str]:
        return [
            java,
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{DEPLOY_DIR / 'log4j.properties'}",
            "-cp",
            f"{libs}/*",
        ]

    def _format_storage(self, java: str, libs: Path) -> None:
        """Format the KRaft storage once; a formatted directory is left as it is."""
        assert self.data_dir is not None
        if (self.data_dir / "data" / "meta.properties").exists():
            return
        cluster = new_cluster_id()
        command = [
            *self._java_command(java, libs),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster,
            "-c",
            str(self.config_file),
            "--ignore-formatted",
        ]
        for user in self._scram_users():
            command += [
                "--add-scram",
                f"{SCRAM_MECHANISM}=[name={user.username},password={user.password}]",
            ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            msg = f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}"
            raise BrokerError(msg)

    def _server_properties(self) -> str:
        assert self.data_dir is not None
        client = "SASL_PLAINTEXT" if self.scram_user else "PLAINTEXT"
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners={client}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners={client}://127.0.0.1:{self.port}",
            f"inter.broker.listener.name={client}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{client}:{client}",
            f"log.dirs={self.data_dir / 'data'}",
            "num.partitions=4",
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            # readers are read_committed, so a transaction a producer leaves open holds every
            # record behind it on its partition until the broker aborts it: up to this bound
            # (Kafka's default 15 min; clients' default transaction timeout is 1 min)
            "transaction.max.timeout.ms=60000",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=24",
            "log.segment.bytes=67108864",
            # 64 MB segments need at most 16,384 index entries (about 200 KB); Kafka's 10 MB default
            # preallocates sparse index files, and on this kernel the first write into a fresh
            # one zero-filled megabytes of readahead: 1.5 s of stalled acks when a worker first
            # wrote to new topics (perf: 84% of the broker's CPU in the kernel's memset)
            "log.index.size.max.bytes=1048576",
            "num.network.threads=2",
            "num.io.threads=4",
            "delete.topic.enable=true",
        ]
        if self.scram_user is not None:
            user = self.scram_user
            jaas = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{user.username}" password="{user.password}";'
            )
            lines += [
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
                f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config={jaas}",
            ]
        if self.acls:
            assert self.scram_user is not None
            lines += [
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "allow.everyone.if.no.acl.found=false",
                # the admin, and the broker's own requests to its controller, which arrive on
                # the loopback-only PLAINTEXT controller listener as ANONYMOUS
                f"super.users=User:{self.scram_user.username};User:ANONYMOUS",
            ]
        return "\n".join(lines) + "\n"

    def _scram_users(self) -> list[ScramUser]:
        if self.acls:
            return list(self.principals.values())
        return [self.scram_user] if self.scram_user is not None else []

    def _principals(self) -> dict[str, ScramUser]:
        """The ACL broker's users: read from its data dir, or made once with fresh passwords."""
        from chatguard.acls import ROLES, USERNAMES

        if self.principals:
            return dict(self.principals)
        try:
            stored = json.loads(self.principals_file.read_text())
            return {role: ScramUser(**stored[role]) for role in ROLES}
        except FileNotFoundError:
            pass
        assert self.data_dir is not None
        if (self.data_dir / "data" / "meta.properties").exists():
            msg = (
                f"{self.data_dir} was formatted without ACLs, so it has none of their SCRAM users; "
                "stop the broker and remove that directory, or pick another --data-dir"
            )
            raise BrokerError(msg)
        users: dict[str, ScramUser] = {
            role: ScramUser(USERNAMES[role], secrets.token_urlsafe(18)) for role in ROLES
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.principals_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({role: vars(user) for role, user in users.items()}, handle, indent=2)
        return users

    def grant_acls(self, topic_prefix: str, app_id: str) -> None:
        """Add the ACLs of ``chatguard.acls.grants`` for these names (Kafka's AclCommand, as
        the admin). Adding an ACL that exists is a no-op, so this may run on every start."""
        from chatguard.acls import grants

        if not self.acls or self.scram_user is None:
            msg = "ACLs need a broker started with --acls"
            raise BrokerError(msg)
        java, libs = require_java(), ensure_jars()
        assert self.data_dir is not None
        admin_config = self.data_dir / "admin.properties"
        user = self.scram_user
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{user.username}" password="{user.password}";'
        )
        fd = os.open(admin_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(
                "security.protocol=SASL_PLAINTEXT\n"
                f"sasl.mechanism={SCRAM_MECHANISM}\n"
                f"sasl.jaas.config={jaas}\n"
            )
        for grant in grants(topic_prefix, app_id):
            command = [
                *self._java_command(java, libs),
                "kafka.admin.AclCommand",
                "--bootstrap-server",
                self.bootstrap,
                "--command-config",
                str(admin_config),
                "--add",
                "--allow-principal",
                f"User:{self.principals[grant.role].username}",
                "--resource-pattern-type",
                "prefixed" if grant.prefixed else "literal",
            ]
            for operation in grant.operations:
                command += ["--operation", operation]
            if grant.resource == "cluster":
                command.append("--cluster")
            else:
                for name in grant.names:
                    command += [f"--{grant.resource}", name]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                msg = (
                    f"adding ACLs {grant} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
                )
                raise BrokerError(msg)


# -- set-up checks -------------------------------------------------------------------------------
def require_java() -> str:
    """The java executable, or a clear error when there is none or it is too old."""
    java = shutil.which("java")
    if java is None:
        msg = "Java not found on PATH: Kafka needs a JDK/JRE 17 (e.g. `apt-get install openjdk-17-jre-headless`)."
        raise BrokerError(msg)
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', result.stderr + result.stdout)
    if match is None or int(match.group(1)) < 11:
        msg = f"Kafka {KAFKA_VERSION} needs Java 11 or newer; `java -version` says:\n{result.stderr.strip()}"
        raise BrokerError(msg)
    return java


def ensure_jars(say: object = None) -> Path:
    """Resolve Kafka's jars with Maven once; later calls reuse the cache."""
    libs = jar_cache_dir()
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        msg = (
            "Maven (mvn) not found on PATH: it resolves Kafka's jars from Maven Central on the "
            f"first start (e.g. `apt-get install maven`). Cache: {libs}"
        )
        raise BrokerError(msg)
    if callable(say):
        say(
            f"resolving Kafka {KAFKA_VERSION} jars from Maven Central into {libs} (first start only)"
        )
    staging = libs.with_name(libs.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(DEPLOY_DIR / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        msg = f"Maven could not resolve Kafka's jars:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise BrokerError(msg)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(KAFKA_VERSION + "\n")
    return libs


def check_port_free(port: int) -> None:
    """Fail early, naming the port, when something already listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Kafka's own server socket does: connections of a broker that just stopped linger in
        # TIME_WAIT and must not count as "in use"; a listening socket still does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            msg = (
                f"port {port} on 127.0.0.1 is already in use ({exc.strerror}); another broker or "
                f"program holds it (`ss -ltnp 'sport = :{port}'` shows which). "
                "Stop it or pick another port with --port."
            )
            raise BrokerError(msg) from exc


async def _fetch_metadata(bootstrap: str, user: ScramUser | None, timeout: float) -> bool:
    from aiokafka import AIOKafkaClient

    options: dict[str, object] = {}
    if user is not None:
        options = {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_plain_username": user.username,
            "sasl_plain_password": user.password,
        }
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **options
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        return bool(metadata.brokers())
    finally:
        await client.close()


def _is_kafka_process(pid: int, config_file: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(config_file).encode() in cmdline


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child, so no zombie lingers
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return True
        time.sleep(0.2)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- command line ----------------------------------------------------------------------------------
def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("broker", help="run a local single-node Kafka broker (KRaft)")
    actions = parser.add_subparsers(dest="broker_action", required=True, metavar="ACTION")
    for name, help_text in (
        ("start", "start the broker and wait until it answers"),
        ("stop", "stop the broker cleanly"),
        ("status", "say whether the broker runs and answers"),
        ("logs", "print the end of the broker's log"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument(
            "--port", type=int, default=DEFAULT_PORT, help="client port (default 9092)"
        )
        action.add_argument("--controller-port", type=int, default=None, help="default: port + 1")
        action.add_argument("--data-dir", type=Path, default=None, help="default: .run/kafka-PORT")
        if name == "start":
            action.add_argument("--timeout", type=float, default=120.0)
            action.add_argument(
                "--sasl-scram",
                metavar="USER:PASSWORD",
                default=None,
                help=f"require SASL/{SCRAM_MECHANISM} on the client listener with this user",
            )
            action.add_argument(
                "--acls",
                action="store_true",
                help=(
                    f"SASL/{SCRAM_MECHANISM} users for the admin, worker, producers and moderation "
                    "tool (passwords in DATA_DIR/principals.json) and Kafka ACLs for the topic "
                    "prefix and app id of CHATGUARD_TOPIC_PREFIX / CHATGUARD_APP_ID"
                ),
            )
        if name == "logs":
            action.add_argument("-n", "--lines", type=int, default=60)
        action.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    user = ScramUser.parse(args.sasl_scram) if getattr(args, "sasl_scram", None) else None
    try:
        broker = LocalBroker(
            port=args.port,
            controller_port=args.controller_port,
            data_dir=args.data_dir,
            scram_user=user,
            acls=bool(getattr(args, "acls", False)),
        )
        if args.broker_action == "start":
            broker.start(timeout=args.timeout)
            if broker.acls:
                from chatguard.settings import Settings

                settings = Settings.from_env()
                broker.grant_acls(settings.topic_prefix, settings.app_id)
                print(f"ACLs on; principals and passwords in {broker.principals_file}")
            print(f"bootstrap {broker.bootstrap}")
        elif args.broker_action == "stop":
            if broker.pid() is None and broker.answers(timeout=2.0):
                # started with another --data-dir: its pid file is there, not here
                print(
                    f"chatguard broker: no broker of {broker.data_dir} runs, but one answers on "
                    f"port {broker.port}; stop it with the --data-dir it was started with",
                    file=sys.stderr,
                )
                return 1
            broker.stop()
        elif args.broker_action == "status":
            return _status(broker)
        else:
            print(broker.log_tail(args.lines))
    except BrokerError as exc:
        print(f"chatguard broker: {exc}", file=sys.stderr)
        return 1
    return 0


def _status(broker: LocalBroker) -> int:
    pid = broker.pid()
    if pid is None:
        if broker.answers():
            print(f"a broker not started from this checkout answers on {broker.bootstrap}")
            return 0
        port = "" if broker.port == DEFAULT_PORT else f" --port {broker.port}"
        print(f"not running (port {broker.port}; start it with: chatguard broker start{port})")
        return 3
    answering = "answers metadata requests" if broker.answers() else "does NOT answer yet"
    print(f"running: pid {pid}, bootstrap {broker.bootstrap}, {answering}; log {broker.log_file}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devtools.broker start`` works without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="chatguard")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["broker", *(argv if argv is not None else sys.argv[1:])])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
