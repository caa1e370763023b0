"""A single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for the demo, the tests and CI.

The broker's jars come from Maven Central through Maven (a one-dependency pom) into a cache directory,
once per version; Java 17 runs them. Nothing here is product code: production runs a real cluster.
"""
from __future__ import annotations

import asyncio
import atexit
import base64
import fcntl
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from demo.broker import free_port
from telecare.errors import BusError

log = logging.getLogger(__name__)

# aiokafka 0.14.0 and faust-streaming 0.15.3 speak to it (docs/kafka.md, "Versions").
KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.25.5"  # the log4j-core the broker depends on; its slf4j 1.x binding must match
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>telecare.local</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

# Warnings and errors to a file in the data dir (the broker ships no logging binding: it would log nothing).
LOG4J2 = """\
<Configuration status="warn">
  <Appenders>
    <File name="file" fileName="{log}" append="true">
      <PatternLayout pattern="%d{{ISO8601}} %-5p [%c{{1}}] %m%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="info"/>
    <Logger name="org.apache.kafka" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
    <Root level="warn"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""

# Auto-creation is off: the bus creates its topics with their partition count, so a misspelt topic fails
# loudly instead of appearing with one partition. The small buffers keep the JVM near 160-380 MB.
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dirs}
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=2
"""


def cache_root() -> Path:
    """Where fetched broker jars live: $TELECARE_KAFKA_CACHE, else ~/.cache/telecare (XDG_CACHE_HOME honoured)."""
    if os.environ.get("TELECARE_KAFKA_CACHE"):
        return Path(os.environ["TELECARE_KAFKA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "telecare"


def java_and_maven() -> tuple[str, str]:
    """Paths of `java` and `mvn`; BusError naming what is missing."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    missing = [name for name, path in (("java (17+)", java), ("mvn (Maven)", mvn)) if path is None]
    if missing:
        raise BusError(f"the embedded Kafka broker needs {' and '.join(missing)} on PATH")
    return java, mvn  # type: ignore[return-value]


def fetch_jars(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    """The broker's `libs` directory, fetched from Maven Central on first use (locked: concurrent runs wait)."""
    home = (cache or cache_root()) / f"kafka-{version}"
    libs = home / "libs"
    if (home / ".complete").exists():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    _, mvn = java_and_maven()
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (home / ".complete").exists():
            return libs
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=home) as work:
            (Path(work) / "pom.xml").write_text(POM.format(kafka=version, log4j=LOG4J_VERSION))
            out = Path(work) / "libs"
            proc = subprocess.run([mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
                                   f"-DoutputDirectory={out}"], cwd=work, capture_output=True, text=True)
            if proc.returncode != 0 or not any(out.glob("kafka_2.13-*.jar")):
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
                raise BusError(f"Maven could not fetch Kafka {version}: " + " | ".join(tail))
            shutil.rmtree(libs, ignore_errors=True)
            out.rename(libs)
        (home / ".complete").write_text(version + "\n")
        log.info("fetched Kafka %s jars in %.1fs into %s", version, time.monotonic() - started, libs)
    return libs


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `random-uuid` prints).

    Never starting with "-", as Kafka's own Uuid.randomUuid() ensures: the storage tool's argument parser takes
    "-t -Xy…" for a missing value (1 format in 64 failed with "argument --cluster-id/-t: expected one argument").
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class EmbeddedKafka:
    """One KRaft node on 127.0.0.1 with its logs in `data_dir`; start() again after stop() keeps data and ports."""

    def __init__(self, data_dir: Path, port: int = 0, *, version: str = KAFKA_VERSION, heap_mb: int = 256,
                 cache: Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.controller_port = free_port()
        self.version, self.heap_mb, self._cache = version, heap_mb, cache
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        java = shutil.which("java")  # Maven is needed only to fetch the jars
        if java is None:
            raise BusError("the embedded Kafka broker needs java (17+) on PATH")
        return [java, f"-Xmx{self.heap_mb}m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}", "-cp", f"{libs}/*", main, *args]

    def _configure(self, libs: Path) -> Path:
        """Write server.properties and the log config; format the storage the first time."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j2.xml").write_text(LOG4J2.format(log=self.data_dir / "server.log"))
        props = self.data_dir / "server.properties"
        props.write_text(SERVER_PROPERTIES.format(port=self.port, controller_port=self.controller_port,
                                                  log_dirs=self.data_dir / "kraft"))
        if not (self.data_dir / "kraft" / "meta.properties").exists():
            proc = subprocess.run(self._java(libs, "kafka.tools.StorageTool", "format", "-t", _cluster_id(),
                                             "-c", str(props)), capture_output=True, text=True)
            if proc.returncode != 0:
                raise BusError(f"formatting Kafka storage failed: {(proc.stdout + proc.stderr).strip()[-300:]}")
        return props

    def start(self) -> str:
        """Fetch (if needed), format (first time), launch, and wait until a metadata request succeeds."""
        if self.running:
            return self.bootstrap
        libs = fetch_jars(self.version, self._cache)
        props = self._configure(libs)
        out = (self.data_dir / "kafka.out").open("ab")
        self._proc = subprocess.Popen(self._java(libs, "kafka.Kafka", str(props)), stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        # The JVM is in its own session (a Ctrl-C must not kill it before a controlled stop), so it would outlive
        # an interpreter that exits without stop(): stop it at exit (idempotent).
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        log.info("embedded Kafka %s on %s", self.version, self.bootstrap)
        return self.bootstrap

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BusError(f"the Kafka broker exited with {self._proc.returncode}; see {self.data_dir}/kafka.out")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise BusError(f"the Kafka broker did not open port {self.port} in {START_TIMEOUT_S:.0f}s")
        _run_coroutine(_probe(self.bootstrap, max(1.0, deadline - time.monotonic())))

    def stop(self) -> None:
        """Controlled shutdown (SIGTERM), killed if it takes longer than STOP_TIMEOUT_S."""
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("Kafka broker did not stop in %.0fs; killed", STOP_TIMEOUT_S)
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


async def _probe(bootstrap: str, timeout_s: float) -> None:
    from telecare.kafkabus import wait_for_broker  # the one module that speaks Kafka

    await wait_for_broker(bootstrap, timeout_s)


def _run_coroutine(coro) -> None:
    """Run `coro` to completion on a private loop in a thread (start() may be called from inside a loop)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(err)

    thread = threading.Thread(target=run, name="kafka-probe")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
