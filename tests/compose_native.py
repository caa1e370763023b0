"""Run docker-compose.yml's parts natively: its mosquitto config, its telecare commands with their environment
(container addresses translated to local ones), its nginx config, and its healthchecks."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from demo.broker import free_port
from tests import compose_spec as cs

DEPLOY = cs.ROOT / "deploy"


def need(binary: str) -> None:
    """Skip locally, fail in CI, without the binary."""
    from tests.conftest import unavailable

    if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
        unavailable(f"{binary} is not installed")


# --- a minimal MQTT 3.1.1 client (a gateway's view: CONNECT, QoS 1 PUBLISH), also over TLS -----------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    return struct.pack("!H", len(s.encode())) + s.encode()


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


def mqtt_connect(port: int, username: str | None, password: str | None, *, cafile: Path | None = None,
                 server_name: str = "localhost") -> tuple[int, socket.socket]:
    """CONNECT (clean session) and return (CONNACK return code, socket); 0 accepted, 5 not authorised."""
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=5)
    if cafile is not None:
        context = ssl.create_default_context(cafile=str(cafile))  # verifies the chain and the host name
        sock = context.wrap_socket(sock, server_hostname=server_name)
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", 30) + _str(username or "anon")
    body += (_str(username) if username is not None else b"") + (_str(password) if password is not None else b"")
    sock.sendall(_packet(0x10, body))
    connack = _read_exact(sock, 4)
    assert connack[0] == 0x20, connack
    return connack[3], sock


def mqtt_publish_qos1(sock: socket.socket, topic: str, payload: bytes, packet_id: int = 1) -> None:
    """PUBLISH at QoS 1 and wait for the broker's PUBACK (the broker has then taken the message)."""
    sock.sendall(_packet(0x32, _str(topic) + struct.pack("!H", packet_id) + payload))
    puback = _read_exact(sock, 4)
    assert puback == bytes([0x40, 2]) + struct.pack("!H", packet_id), puback


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


# --- mosquitto with the compose's config ----------------------------------------------------------------
@dataclass
class NativeBroker:
    """deploy/mosquitto/run.sh with deploy/mosquitto/mosquitto.conf; container paths moved under `root`."""

    root: Path
    port: int = field(default_factory=free_port)  # the compose's 1883 (ingest)
    tls_port: int = field(default_factory=free_port)  # the compose's 8883 (gateways)
    proc: subprocess.Popen | None = None

    @property
    def config_dir(self) -> Path:
        return self.root / "config"  # /mosquitto/config: the volume mqtt-auth writes

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def conf(self) -> Path:
        text = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
        for old, new in (("listener 8883 0.0.0.0", f"listener {self.tls_port} 127.0.0.1"),
                         ("listener 1883 0.0.0.0", f"listener {self.port} 127.0.0.1"),
                         ("/mosquitto/data/", f"{self.root}/data/"), ("/mosquitto/config/", f"{self.config_dir}/")):
            assert old in text, old
            text = text.replace(old, new)
        path = self.root / "mosquitto.conf"
        path.write_text(text + "user root\n")  # the image starts it as root and it drops to `mosquitto`
        return path

    def start(self) -> None:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "MOSQUITTO_CONF": str(self.conf()), "MOSQUITTO_SAVE_EVERY_S": "0.5"}
        self.proc = subprocess.Popen(["sh", str(DEPLOY / "mosquitto" / "run.sh")], env=env,
                                     stdout=(self.root / "mosquitto.log").open("wb"), stderr=subprocess.STDOUT)

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def answers(self) -> bool:
        """The compose healthcheck's condition: an unknown account gets CONNACK "not authorised" (5)."""
        assert self.proc is not None and self.proc.poll() is None, f"mosquitto exited: {self.log()}"
        try:
            code, sock = mqtt_connect(self.port, "healthcheck", "none")
        except OSError:
            return False
        sock.close()
        return code == 5

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self.proc = None
        return code


def mqtt_auth_script(service: dict, config_dir: Path, certs_dir: Path) -> list[str]:
    """The mqtt-auth job's shell script, run here: its volume and mount paths local, `telecare` this checkout's."""
    paths = {"/auth": str(config_dir), "/certs": str(certs_dir)}
    script = re.sub(r"(?<![\w/])(/auth|/certs)\b", lambda m: paths[m.group(1)], service["command"][0])
    return ["sh", "-c", script.replace("telecare ", f"{sys.executable} -m entrypoints.cli ")]


# --- telecare processes with the compose's environment ----------------------------------------------------
@dataclass
class Local:
    """Where the compose's container addresses are in this test."""

    database_url: str
    kafka_bootstrap: str
    mqtt_url: str
    data_root: Path
    ports: dict[str, int] = field(default_factory=dict)

    def env(self, name: str, service: dict, secrets_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
        env.update(cs.environment(service, secrets_dir))
        env["PYTHONPATH"] = str(cs.ROOT)
        env["TELECARE_DATABASE_URL"] = self.database_url
        if "TELECARE_KAFKA_BOOTSTRAP" in env:
            env["TELECARE_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
            # The test session's broker is shared: its topics already exist with the fixtures' 6 partitions
            # (the compose's 12 would make the bus's partition checks of later tests disagree).
            env["TELECARE_KAFKA_PARTITIONS"] = "6"
        if "TELECARE_MQTT_URL" in env:
            assert env["TELECARE_MQTT_URL"] == "mqtt://mosquitto:1883"
            env["TELECARE_MQTT_URL"] = self.mqtt_url
        if "FORWARDED_ALLOW_IPS" in env:
            env["FORWARDED_ALLOW_IPS"] = "127.0.0.1"  # the proxy's address here
        # The Dockerfile's ENV: 0.0.0.0:8000 inside a container; here loopback, one port per service.
        env["TELECARE_HTTP_HOST"] = "127.0.0.1"
        env["TELECARE_HTTP_PORT"] = str(self.ports.setdefault(name, free_port()))
        env.setdefault("TELECARE_DATA_DIR", str(self.data_root / name))
        if env["TELECARE_DATA_DIR"].startswith("/tmp/telecare"):
            env["TELECARE_DATA_DIR"] = str(self.data_root / name)
        return env

    def healthcheck(self, name: str, service: dict) -> list[str]:
        """The service's compose healthcheck command, pointed at its local port."""
        test = list(service["healthcheck"]["test"])
        assert test[0] == "CMD"
        return [sys.executable if a == "python" else a.replace(f":{cs.PART_PORT}/", f":{self.ports[name]}/")
                for a in test[1:]]


def native_nginx(root: Path, upstream_ports: dict[str, int]) -> tuple[list[str], int]:
    """deploy/nginx/nginx.conf with the upstream names at their local ports: (command, listening port)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = (DEPLOY / "nginx" / "nginx.conf").read_text()
    for name, local in upstream_ports.items():
        assert re.search(rf"server {name}:{cs.PART_PORT}[ ;]", conf), name
        conf = re.sub(rf"server {name}:{cs.PART_PORT}([ ;])", rf"server 127.0.0.1:{local}\1", conf)
    left = re.findall(r"server ([a-z][\w-]*):\d+", conf)
    assert not left, f"upstreams with no local port: {left}"
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("pid /tmp/nginx.pid;",
                                                                          f"pid {root}/nginx.pid;")
    root.mkdir(parents=True, exist_ok=True)
    (root / "nginx.conf").write_text(conf)
    return [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log"),
            "-g", "daemon off;"], port


def native_prometheus(root: Path, ports: dict[str, int]) -> tuple[list[str], int]:
    """deploy/prometheus/prometheus.yml with each compose name at its local port: (command, web port)."""
    import yaml

    prometheus = shutil.which("prometheus") or "/usr/bin/prometheus"
    port = free_port()
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [f"127.0.0.1:{ports[t.split(':')[0]]}" if t.split(":")[0] in ports
                                 else t.replace("localhost:9090", f"127.0.0.1:{port}") for t in static["targets"]]
    config["global"]["scrape_interval"] = "1s"  # the test waits for scrapes; the deployment keeps 5 s
    root.mkdir(parents=True, exist_ok=True)
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    return [prometheus, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"], port
