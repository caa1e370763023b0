"""An embedded MQTT broker for the demo and tests: mosquitto when on PATH, else a Python broker."""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from telecare.errors import BrokerError

log = logging.getLogger(__name__)

# mosquitto's default queue limit (1000) silently drops QoS 1 messages for a slow or offline
# persistent subscriber; a telecare broker must keep them.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location {data_dir}/
autosave_interval 30
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

    def __init__(self, data_dir: Path, port: int, *, mosquitto: str | bool = True) -> None:
        """`mosquitto`: True = find it (fall back to amqtt if absent), a path, or False = use amqtt."""
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self._mosquitto = mosquitto
        self._proc: subprocess.Popen[bytes] | None = None
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
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, data_dir=self.data_dir))
        self._proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
        _wait_for_port(self.port)
        log.info("embedded mosquitto on %s", self.url)
        return self.url

    def _start_amqtt(self) -> str:
        try:
            import amqtt  # noqa: F401 - only checks that the fallback is installed
        except ImportError as err:
            raise BrokerError("neither mosquitto nor the amqtt Python broker is installed") from err
        self.kind = "amqtt"
        log_file = (self.data_dir / "amqtt.log").open("ab")
        self._proc = subprocess.Popen([sys.executable, "-m", "demo.amqtt_broker", str(self.port)],
                                      stderr=log_file, stdout=log_file)
        log_file.close()
        _wait_for_port(self.port)
        log.warning("mosquitto not found: embedded amqtt broker on %s (MQTT 3.1.1, no shared subscriptions, "
                    "sessions in memory, unacked messages not redelivered: demo/test use only)", self.url)
        return self.url

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
