"""An embedded MQTT broker for the demo and tests: mosquitto when on PATH, else a Python broker."""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
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


class EmbeddedBroker:
    """Start a broker on 127.0.0.1:`port` with its persistence in `data_dir`."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start the broker and return its mqtt:// URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if exe is None:
            raise BrokerError("mosquitto is not installed and no Python broker fallback is available")
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, data_dir=self.data_dir))
        self._proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
        _wait_for_port(self.port)
        log.info("embedded mosquitto on %s", self.url)
        return self.url

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
