"""deploy/mosquitto/run.sh with the production config: saves every 0.5 s; a stop is clean (exit 0)."""
from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from demo.broker import free_port
from devices.mqtt_acl import IngestAccounts, write_broker_auth
from tests.conftest import eventually, unavailable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"


async def test_run_sh_saves_the_store_twice_a_second_and_stops_cleanly(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None:
        unavailable("mosquitto is not installed")
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    # Only what differs outside a container: a loopback port, a temp data dir and config dir, no TLS
    # listener (no certificates here), and root may run it.
    write_broker_auth(tmp_path, IngestAccounts(("telecare-ingest-1", "telecare-ingest-1-alarms"), "pw"), [])
    # The TLS listener goes with its own use_username_as_clientid line: left alone above the next listener,
    # mosquitto would open a default listener on 0.0.0.0:1883 for it.
    gateways = "listener 8883 0.0.0.0\nuse_username_as_clientid true\n"
    assert gateways in conf
    conf = conf.replace(gateways, "listener 8883 0.0.0.0\n")
    tls = [line for line in conf.splitlines() if line.startswith(("listener 8883", "cafile", "certfile", "keyfile",
                                                                  "require_certificate"))]
    for line in tls:
        conf = conf.replace(line + "\n", "")
    conf = (conf.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1\nuser root")
                .replace("/mosquitto/data/", f"{tmp_path}/")
                .replace("/mosquitto/config/", f"{tmp_path}/"))
    assert len(tls) == 5 and "allow_anonymous false" in conf and "use_username_as_clientid true" in conf
    (tmp_path / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen(["sh", str(DEPLOY / "run.sh")], env={"PATH": "/usr/sbin:/usr/bin:/bin",
                            "MOSQUITTO_CONF": str(tmp_path / "mosquitto.conf")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = tmp_path / "mosquitto.db"
    try:
        await eventually(store.exists, timeout=2)  # an idle broker saves only on SIGUSR1 in 2 s
        first = store.stat().st_mtime_ns
        await eventually(lambda: store.stat().st_mtime_ns != first, timeout=1)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert code == 0
    assert subprocess.run(["pgrep", "-f", str(tmp_path / "mosquitto.conf")], capture_output=True).returncode == 1
