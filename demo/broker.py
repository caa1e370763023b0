"""An embedded MQTT broker for the demo and tests: mosquitto when on PATH, else a Python broker."""
from __future__ import annotations

import logging
import shutil
import socket
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from telecare.errors import BrokerError

log = logging.getLogger(__name__)

# The durability settings match deploy/mosquitto/mosquitto.conf (a unit test compares them); the
# reasons are in docs/protocol.md, "Broker durability". In short: keep every QoS 1 message queued for
# an offline persistent session (the default max_queued_messages 1000 silently drops the rest), and
# save the store on a timer: autosave_on_changes would rewrite the whole store after every queued
# message (20,000 queued took > 120 s). mosquitto 2.0's timer has 1-second resolution and a strict
# comparison, so autosave_interval 1 saves every 2 s; the Autosaver below adds a SIGUSR1 (save now)
# every 0.5 s so an acknowledged message is on disk within 1 s.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
{auth}user root
persistence true
persistence_location {data_dir}/
autosave_interval 1
autosave_on_changes false
max_queued_messages 5000000
max_queued_bytes 0
max_inflight_messages 1000
max_packet_size 1048576
persistent_client_expiration 14d
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
"""
SAVE_EVERY_S = 0.5
# With accounts (the demo, `telecare run`): the files `telecare devices mqtt-acl` writes, nobody anonymous,
# and every client id replaced by the username, so no account can take over another's session (ingest's
# included). use_username_as_clientid is a listener option: it must follow the `listener` line (placed
# above it, 2.0.11 applies it to none of the listeners defined and opens an extra default listener on
# 0.0.0.0:1883 for it). docs/protocol.md, "Client ids bound to accounts".
# Without (the test suite's shared broker): anonymous, for tests about other things than access control.
AUTH_CONF = ("use_username_as_clientid true\nallow_anonymous false\npassword_file {password_file}\n"
             "acl_file {acl_file}\n")
ANONYMOUS_CONF = "allow_anonymous true\n"


def mosquitto_conf(port: int, data_dir: Path, auth: tuple[Path, Path] | None = None) -> str:
    """The embedded mosquitto's config; `auth` = (password_file, acl_file) turns anonymous access off."""
    block = ANONYMOUS_CONF if auth is None else AUTH_CONF.format(password_file=auth[0], acl_file=auth[1])
    return MOSQUITTO_CONF.format(port=port, data_dir=data_dir, auth=block)


class Autosaver:
    """Sends mosquitto SIGUSR1 ("save the in-memory store now") every `every_s` seconds from a thread."""

    def __init__(self, proc: subprocess.Popen[bytes], every_s: float = SAVE_EVERY_S) -> None:
        self._proc, self._every_s = proc, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mosquitto-autosave", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s) and self._proc.poll() is None:
            try:
                self._proc.send_signal(signal.SIGUSR1)
            except ProcessLookupError:  # exited between poll() and the signal
                return

    def stop(self) -> None:
        """Stop signalling (before the broker is stopped, so no signal reaches a reused pid)."""
        self._stop.set()
        self._thread.join()


def _wait_for_port(port: int, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"embedded MQTT broker did not open port {port}")


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    """BrokerError naming the port and the option when something already holds `port` (0 = any port: fine)."""
    if port == 0:
        return
    with socket.socket() as probe:
        # SO_REUSEADDR as the broker sets it: a port in TIME_WAIT after our own last run is free, a bound or
        # listening socket (e.g. Debian's mosquitto service on 1883) is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise BrokerError(
                f"MQTT port {port} is already in use (another broker?): the embedded broker cannot start there. "
                "Choose a free port with --mqtt-port or TELECARE_MQTT_PORT, or use that broker with "
                "TELECARE_MQTT_URL") from err


class EmbeddedBroker:
    """Start a broker on 127.0.0.1:`port` with its persistence in `data_dir`."""

    def __init__(self, data_dir: Path, port: int, *, mosquitto: str | bool = True,
                 auth: tuple[Path, Path] | None = None) -> None:
        """`mosquitto`: True = find it (fall back to amqtt if absent), a path, or False = use amqtt.
        `auth`: (password_file, acl_file) for mosquitto; None = anonymous access (tests of other things)."""
        self.data_dir = Path(data_dir).resolve()
        self.auth = None if auth is None else (Path(auth[0]).resolve(), Path(auth[1]).resolve())
        self.port = port
        self._mosquitto = mosquitto
        self._proc: subprocess.Popen[bytes] | None = None
        self._saver: Autosaver | None = None
        self.kind = "mosquitto"

    @property
    def url(self) -> str:
        # amqtt speaks MQTT 3.1.1 only; the URL tells telecare.mqtt to use that protocol.
        suffix = "?protocol=3.1.1" if self.kind == "amqtt" else ""
        return f"mqtt://127.0.0.1:{self.port}{suffix}"

    def _find_mosquitto(self) -> str | None:
        if self._mosquitto is False:
            return None
        if isinstance(self._mosquitto, str):
            return self._mosquitto if Path(self._mosquitto).exists() else None
        return shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )

    def start(self) -> str:
        """Start the broker (mosquitto, else amqtt) and return its mqtt:// URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        exe = self._find_mosquitto()
        if exe is None:
            return self._start_amqtt()
        self.kind = "mosquitto"
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(mosquitto_conf(self.port, self.data_dir, self.auth))
        # Its log goes to a file: an unread pipe fills up and then blocks the broker. Its own session: Ctrl-C in
        # a terminal reaches the whole process group, and the broker must outlive the platform's orderly stop
        # (ingest disconnects first) instead of dying under it.
        with (self.data_dir / "mosquitto.log").open("ab") as log_file:
            self._proc = subprocess.Popen([exe, "-c", str(conf)], stderr=log_file, stdout=log_file,
                                          start_new_session=True)
        _wait_for_port(self.port)
        # mosquitto installs its signal handlers right after opening its listeners; the first signal
        # comes SAVE_EVERY_S later (a SIGUSR1 before that would end it).
        self._saver = Autosaver(self._proc)
        log.info("embedded mosquitto on %s", self.url)
        return self.url

    def _start_amqtt(self) -> str:
        try:
            import amqtt  # noqa: F401 - only checks that the fallback is installed
        except ImportError as err:
            raise BrokerError("neither mosquitto nor the amqtt Python broker is installed") from err
        self.kind = "amqtt"
        if self.auth is not None:
            log.warning("the amqtt fallback broker enforces no accounts or ACL: any client may publish for any "
                        "gateway (install mosquitto for per-gateway access control)")
        log_file = (self.data_dir / "amqtt.log").open("ab")
        self._proc = subprocess.Popen([sys.executable, "-m", "demo.amqtt_broker", str(self.port)],
                                      stderr=log_file, stdout=log_file, start_new_session=True)
        log_file.close()
        _wait_for_port(self.port)
        log.warning("mosquitto not found: embedded amqtt broker on %s (MQTT 3.1.1, no shared subscriptions, "
                    "sessions in memory, unacked messages not redelivered: demo/test use only)", self.url)
        return self.url

    def kill(self) -> None:
        """SIGKILL the broker, as a crash or an OOM kill would: nothing is saved on the way out."""
        self._stop_saver()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def _stop_saver(self) -> None:
        if self._saver is not None:
            self._saver.stop()
            self._saver = None

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its password file and ACL (after `telecare devices mqtt-acl`)."""
        if self._proc is not None and self.kind == "mosquitto":
            self._proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop gracefully (mosquitto saves its store on SIGTERM)."""
        self._stop_saver()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
