"""Kafka's own Java console producer, run from the broker's jar cache, for end-to-end tests.

aiokafka's producer is the project's own client; real producers are mostly Java ones with their
own defaults (compression, batching, headers). :func:`java_produce` sends records exactly as
``kafka-console-producer.sh`` would: one line per record, ``headers<TAB>key<TAB>value`` with
``parse.headers=true`` and ``parse.key=true``, compressed with the codec asked for. (Kafka 3.9's
tool has no ``--max-request-size``: the limit is a ``--producer-property``.)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.broker import ensure_jars

CODECS = ("gzip", "snappy", "lz4", "zstd")
CONSOLE_PRODUCER = "kafka.tools.ConsoleProducer"  # in Kafka 3.9 still the Scala tool

# warnings and errors to stderr (where the helper looks for send failures), nothing on stdout
_TOOLS_LOG4J = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


@dataclass(frozen=True)
class JavaRecord:
    """One line for the console producer. Headers are required by its ``parse.headers`` format
    (an empty header section is an error), and no field may hold a tab or a newline."""

    key: str
    value: str
    headers: tuple[tuple[str, str], ...] = (("producer", "kafka-console"),)

    def line(self) -> str:
        headers = ",".join(f"{name}:{value}" for name, value in self.headers)
        fields = (headers, self.key, self.value)
        if not self.headers or any(c in field for field in fields for c in "\t\r\n"):
            msg = f"cannot send {self.key!r} through the console producer's line format"
            raise ValueError(msg)
        return "\t".join(fields)


def java_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[JavaRecord],
    *,
    codec: str,
    max_request_size: int = 1_048_576,
    timeout: float = 180.0,
) -> None:
    """Send ``records`` to ``topic`` with Kafka's console producer, compressed with ``codec``;
    returns once the tool exited, having had every record acknowledged (``acks=all``).

    Raises AssertionError with the tool's output when it failed or reported a send error (the
    tool logs send errors and still exits 0).
    """
    java = shutil.which("java")
    assert java is not None, "java is not on PATH: the console producer needs it"
    libs = ensure_jars()
    text = "".join(record.line() + "\n" for record in records)
    with tempfile.TemporaryDirectory() as tmp:
        log4j = Path(tmp) / "tools-log4j.properties"
        log4j.write_text(_TOOLS_LOG4J)
        command = [
            java,
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",  # a short-lived tool: start fast rather than optimize
            "-XX:+UseSerialGC",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{libs}/*",
            CONSOLE_PRODUCER,
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--compression-codec",
            codec,
            "--request-required-acks",
            "-1",
            "--property",
            "parse.key=true",
            "--property",
            "parse.headers=true",
            "--producer-property",
            f"max.request.size={max_request_size}",
        ]
        result = subprocess.run(
            command, input=text.encode(), capture_output=True, timeout=timeout, check=False
        )
    output = (result.stdout + result.stderr).decode(errors="replace")
    failed = result.returncode != 0 or "Error when sending" in output or " ERROR " in output
    assert not failed, f"console producer ({codec}) to {topic} failed:\n{output[:3000]}"
