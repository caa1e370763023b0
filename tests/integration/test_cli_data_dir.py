"""Commands find the demo's database through --data-dir / TELECARE_DATA_DIR, and never invent an empty one."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from demo.broker import free_port
from telecare.store import Database

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CAP = ROOT / "outreach" / "samples" / "barcelona_heat_warning.xml"
FLEET = ROOT / "docs" / "examples" / "fleet.yaml"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(TELECARE_LOG_LEVEL="WARNING", **extra)
    return env


def telecare(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], capture_output=True, text=True,
                          env=clean_env(**env), timeout=timeout)


@pytest.fixture
def pg_dir(tmp_root: Path) -> Path:
    """A folder for an embedded PostgreSQL, outside pytest's tmp_path: pytest (of any concurrent session) resets
    /tmp/pytest-of-<user> to 0700, which locks out the server's system user that pgserver runs as under root."""
    path = tmp_root / f"cli-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def device_count(output: str) -> int:
    match = re.search(r"^(\d+) device\(s\)$", output, re.M)
    assert match, output
    return int(match.group(1))


@pytest.mark.parametrize("command", [
    ["devices", "list"],
    ["devices", "import", str(FLEET)],
    ["weather", "ingest", str(SAMPLE_CAP)],
    ["run", "web"],
])
def test_a_folder_without_a_database_is_refused_not_created(tmp_path: Path, command: list[str]) -> None:
    empty = tmp_path / "not-the-demo"
    proc = telecare(*command, "--data-dir", str(empty), TELECARE_HTTP_PORT=str(free_port()))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no database in {empty.resolve()}" in proc.stderr and "--data-dir" in proc.stderr
    assert "Traceback" not in proc.stderr and "device(s)" not in proc.stdout and "campaign" not in proc.stdout
    assert not empty.exists()  # nothing was created there


def test_the_environment_variable_works_like_the_option(tmp_path: Path) -> None:
    proc = telecare("devices", "list", TELECARE_DATA_DIR=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and f"no database in {(tmp_path / 'nowhere').resolve()}" in proc.stderr


def test_db_upgrade_creates_the_database_then_the_others_use_it(pg_dir: Path) -> None:
    data = pg_dir / "fresh"
    created = telecare("db", "upgrade", "--data-dir", str(data))
    assert created.returncode == 0, created.stderr[-2000:]
    assert created.stdout.startswith("applied: 0001")
    imported = telecare("devices", "import", str(FLEET), "--data-dir", str(data))
    assert imported.returncode == 0, imported.stderr[-2000:]
    listed = telecare("devices", "list", TELECARE_DATA_DIR=str(data))
    assert listed.returncode == 0 and device_count(listed.stdout) > 0
    again = telecare("db", "upgrade", "--data-dir", str(data)).stdout.splitlines()
    assert again[0] == "database is up to date" and "hypertable: off (fallback: native range partitions by month)" in again


async def test_a_database_url_without_the_telecare_tables_is_refused(pg_server_url: str) -> None:
    from tests.conftest import _with_database

    admin = await Database.connect(pg_server_url, min_size=1, max_size=1)
    name = f"empty_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _with_database(pg_server_url, name)
        proc = telecare("devices", "list", TELECARE_DATABASE_URL=url)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "no telecare tables" in proc.stderr and "telecare db upgrade" in proc.stderr
        empty = await Database.connect(url, min_size=1, max_size=1)
        assert await empty.fetchval("SELECT to_regclass('schema_migrations')") is None  # nothing created
        await empty.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_commands_share_the_running_demos_database_and_use_it_after_it_stopped(tmp_path: Path,
                                                                               pg_dir: Path) -> None:
    data = pg_dir / "demo"
    http_port, mqtt_port = free_port(), free_port()
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "demo", "--no-simulator", "--residents", "3",
             "--http-port", str(http_port), "--mqtt-port", str(mqtt_port), "--data-dir", str(data)],
            stdout=log, stderr=subprocess.STDOUT, env=clean_env())
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert demo.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        admin = {"Authorization": "Bearer " + (data / "demo-token").read_text().strip()}  # the demo's admin token
        seeded = len(httpx.get(f"{base}/api/devices", headers=admin, timeout=10).json())
        assert seeded > 0

        while_running = telecare("devices", "list", "--data-dir", str(data))
        assert while_running.returncode == 0, while_running.stderr[-2000:]
        assert device_count(while_running.stdout) == seeded
        assert telecare("db", "upgrade", "--data-dir", str(data)).stdout.splitlines()[0] == "database is up to date"
        # The command's exit did not stop the server the demo still uses.
        assert len(httpx.get(f"{base}/api/devices", headers=admin, timeout=10).json()) == seeded
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
    assert demo.returncode == 0, log_path.read_text()[-3000:]

    after = telecare("devices", "list", "--data-dir", str(data))
    assert after.returncode == 0 and device_count(after.stdout) == seeded
    assert not (data / "pg" / "postmaster.pid").exists()  # the last user stopped the server it started


def test_a_killed_user_of_the_database_does_not_keep_the_server_running_forever(pg_dir: Path) -> None:
    data = pg_dir / "killed"
    assert telecare("db", "upgrade", "--data-dir", str(data)).returncode == 0
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", "web", "--data-dir", str(data)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=clean_env(TELECARE_HTTP_PORT=str(port)))
    pidfile = data / "pg" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert web.poll() is None
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        web.kill()  # kill -9: no clean-up ran, the server it opened keeps running
        web.wait(10)
        assert pidfile.exists()
        after = telecare("devices", "list", "--data-dir", str(data))
        assert after.returncode == 0 and device_count(after.stdout) == 0
        assert not pidfile.exists()  # the dead user was forgotten, so this one was last and stopped it
    finally:
        if web.poll() is None:
            web.kill()
        if pidfile.exists():  # leave no server behind even when the assertion failed
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)
