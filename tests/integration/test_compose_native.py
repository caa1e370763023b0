"""docker-compose.yml run natively (no Docker engine here): the whole telecare side of the stack in the compose's
start order, each service with its own command and environment, its healthcheck run as compose would, the web
processes behind the compose's nginx config, Prometheus with its scrape config, and a help press from a gateway
over TLS reaching the operators. The broker alone: tests/integration/test_compose_broker.py."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import yaml

from telecare.store import Database
from tests import compose_spec as cs
from tests.compose_native import (Local, NativeBroker, mqtt_auth_script, mqtt_connect, mqtt_publish_qos1, native_nginx,
                                  native_prometheus, need)
from tests.conftest import eventually

pytestmark = pytest.mark.integration
SPEC = cs.load()
SERVICES = cs.services(SPEC)


async def _run(argv: list[str], env: dict[str, str], log: Path) -> str:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cs.ROOT, stdout=asyncio.subprocess.PIPE,
                                                    stderr=out)
        stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}: {log.read_text()[-2000:]}"
    return stdout.decode()


async def _healthy(argv: list[str]) -> bool:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait() == 0


async def test_the_stack_runs_natively_in_compose_order(db_url: str, kafka_bootstrap: str, tmp_root: Path) -> None:
    """Needs `telecare run store|alerts` (helper kpipe) and every part serving /healthz and /metrics."""
    missing = sorted({cs.part_of(s) for s in cs.app_services(SPEC).values()} - set(cs.run_choices()))
    assert not missing, f"the CLI has no `telecare run` for {missing} yet (issue 9's six parts)"
    for binary in ("mosquitto", "nginx", "prometheus"):
        need(binary)
    root = tmp_root / f"compose-stack-{uuid.uuid4().hex[:6]}"
    secrets = cs.make_secrets(root / "secrets")
    broker = NativeBroker(root / "mosquitto")
    local = Local(db_url, kafka_bootstrap, broker.url, root / "data")
    procs: dict[str, asyncio.subprocess.Process] = {}
    logs = root / "logs"
    logs.mkdir(parents=True)
    started = time.monotonic()
    try:
        # Registry first (an operator's step before `up`): the example fleet and one gateway's login.
        env = local.env("migrate", SERVICES["migrate"], secrets)
        cli = [sys.executable, "-m", "entrypoints.cli"]
        await _run(cli + ["devices", "import", str(cs.ROOT / "docs/examples/fleet.yaml")], env, logs / "setup.log")
        gw_password = (await _run(cli + ["devices", "credentials", "gw-9001", "--rotate"], env,
                                  logs / "setup.log")).split()[-1]
        await _run(cli + ["users", "create", "ops", "--role", "operator"], env, logs / "setup.log")
        token = (await _run(cli + ["users", "token", "ops"], env, logs / "setup.log")).split()[-1]

        pending = [n for n in cs.start_order(SPEC) if cs.is_app(SERVICES[n]) or n == "mosquitto"]
        done: set[str] = {n for n in SERVICES if n not in pending}  # infra started by fixtures, or not needed
        while pending:
            wave = [n for n in pending if set(SERVICES[n].get("depends_on") or {}) <= done]
            assert wave, f"nothing can start: {pending}"
            for name in wave:
                pending.remove(name)
                service = SERVICES[name]
                env = local.env(name, service, secrets)
                if name == "mosquitto":
                    broker.start()
                elif name == "mqtt-auth":
                    broker.config_dir.mkdir(parents=True, exist_ok=True)
                    await _run(mqtt_auth_script(service, broker.config_dir, secrets / "certs"), env,
                               logs / f"{name}.log")
                elif cs.is_one_shot(service):
                    for argv in cs.telecare_argvs(service):
                        await _run(cli + argv, env, logs / f"{name}.log")
                else:
                    procs[name] = await asyncio.create_subprocess_exec(
                        *cli, *service["command"], env=env, cwd=cs.ROOT,
                        stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
            for name in wave:
                if name == "mosquitto":
                    await eventually(broker.answers, timeout=15)
                elif name in procs:
                    check = local.healthcheck(name, SERVICES[name])

                    async def healthy(name: str = name, check: list[str] = check) -> bool:
                        assert procs[name].returncode is None, (logs / f"{name}.log").read_text()[-3000:]
                        return await _healthy(check)

                    await eventually(healthy, timeout=90, interval=0.5)
                done.add(name)
        print(f"\nstack up natively in {time.monotonic() - started:.1f} s: {sorted(procs)}")

        proxied = {n: local.ports[n] for n, s in cs.app_services(SPEC).items() if cs.part_of(s) in ("web", "outreach")}
        nginx_cmd, proxy_port = native_nginx(root / "nginx", proxied)
        procs["proxy"] = await asyncio.create_subprocess_exec(*nginx_cmd, stdout=asyncio.subprocess.DEVNULL,
                                                              stderr=asyncio.subprocess.DEVNULL)
        async with httpx.AsyncClient(timeout=10) as http:
            base = f"http://127.0.0.1:{proxy_port}"
            await eventually(lambda: _status(http, f"{base}/healthz", 200), timeout=15)
            assert (await http.get(f"{base}/metrics")).status_code == 404  # scraped directly, not via the proxy

            # Every Prometheus target answers /metrics (its compose name at its local port).
            prom = yaml.safe_load((cs.ROOT / "deploy/prometheus/prometheus.yml").read_text())
            for job in prom["scrape_configs"]:
                for target in (t for sc in job["static_configs"] for t in sc["targets"]):
                    host = target.split(":")[0]
                    if host in local.ports:
                        r = await http.get(f"http://127.0.0.1:{local.ports[host]}/metrics")
                        assert r.status_code == 200 and "telecare_" in r.text, target

            # A help press from gw-9001 over TLS reaches the operators' queue through the proxy.
            code, sock = mqtt_connect(broker.tls_port, "gw-9001", gw_password,
                                      cafile=secrets / "certs" / "ca.crt")
            assert code == 0
            msg_id = f"compose-{uuid.uuid4().hex[:8]}"
            body = {"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat()}
            mqtt_publish_qos1(sock, "telecare/v1/gw-9001/pd-9001/help_button", json.dumps(body).encode())
            sock.close()
            auth = {"Authorization": f"Bearer {token}"}

            async def in_queue() -> bool:
                r = await http.get(f"{base}/api/alerts", headers=auth)
                return r.status_code == 200 and any(a.get("resident_id") == "r-9001" for a in _alerts(r.json()))

            await eventually(in_queue, timeout=30, interval=0.3)

            # Prometheus with the compose's scrape config finds every target up, and every dashboard query runs.
            prom_cmd, prom_port = native_prometheus(root / "prometheus", local.ports)
            procs["prometheus"] = await asyncio.create_subprocess_exec(
                *prom_cmd, stdout=(logs / "prometheus.log").open("wb"), stderr=subprocess.STDOUT)
            api = f"http://127.0.0.1:{prom_port}/api/v1"
            targets = sum(len(sc["targets"]) for job in prom["scrape_configs"] for sc in job["static_configs"])

            async def all_up() -> bool:
                try:
                    active = (await http.get(f"{api}/targets")).json()["data"]["activeTargets"]
                except (httpx.HTTPError, ValueError, KeyError):
                    return False
                return len(active) == targets and all(t["health"] == "up" for t in active)

            await eventually(all_up, timeout=30, interval=0.5)
            accepted = 'sum(telecare_ingest_messages_total{result="accepted"})'
            await eventually(lambda: _query_value(http, api, accepted), timeout=15, interval=0.5)
            for panel_query in _dashboard_queries():
                r = (await http.get(f"{api}/query", params={"query": panel_query})).json()
                assert r["status"] == "success", (panel_query, r)
            db = await Database.connect(db_url, min_size=1, max_size=1)
            try:
                assert await db.fetchval("SELECT count(*) FROM events WHERE msg_id = %s", (msg_id,)) == 1
            finally:
                await db.close()
            scraped = [(await http.get(f"http://127.0.0.1:{local.ports[n]}/metrics")).text
                       for n in local.ports if n.startswith("ingest")]
            assert any('telecare_ingest_messages_total{result="accepted"} 1.0' in t for t in scraped)
    finally:
        try:
            codes = await _stop_all(procs)
        finally:
            broker.stop()
    if os.environ.get("TELECARE_TEST_SHOW_LOG"):
        for log in sorted(logs.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-2000:]}")
    ours = {n: c for n, c in codes.items() if n not in ("proxy", "prometheus")}
    assert ours == {n: 0 for n in ours}, f"exit codes {ours}; logs in {logs}"


def _alerts(body: object) -> list[dict]:
    if isinstance(body, dict):
        return next((v for v in body.values() if isinstance(v, list)), [])
    return body if isinstance(body, list) else []


async def _status(http: httpx.AsyncClient, url: str, code: int) -> bool:
    try:
        return (await http.get(url)).status_code == code
    except httpx.HTTPError:
        return False


def _dashboard_queries() -> list[str]:
    return [t["expr"] for path in sorted((cs.ROOT / "deploy/grafana/dashboards").glob("*.json"))
            for p in json.loads(path.read_text())["panels"] for t in p.get("targets", [])]


async def _query_value(http: httpx.AsyncClient, api: str, query: str) -> float:
    result = (await http.get(f"{api}/query", params={"query": query})).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


async def _stop_all(procs: dict[str, asyncio.subprocess.Process]) -> dict[str, int | str]:
    """SIGTERM every process (as `docker compose stop`), SIGKILL what has not exited after 30 s (reported)."""
    for proc in procs.values():
        if proc.returncode is None:
            proc.terminate()
    codes: dict[str, int | str] = {}
    for name, proc in procs.items():
        try:
            codes[name] = await asyncio.wait_for(proc.wait(), 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            codes[name] = "killed after 30 s"
    return codes
