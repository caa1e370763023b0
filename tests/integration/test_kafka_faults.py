"""Faults on the Kafka path with real processes (`telecare run store|alerts|ingest`) under a steady load:
kill -9 of ingest, a PostgreSQL restart, a Kafka broker restart. Each prints sent / stored / lost / duplicated
and the triggers sent against what the alerts counted; nothing may be lost, nothing stored twice."""
from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import pytest

from telecare.store import Database
from telecare.store.migrate import upgrade
from tests.conftest import eventually, start_kafka
from tests.integration.broker_harness import broker  # noqa: F401 - fixture
from tests.integration.kafka_harness import seed
from tests.integration.kafka_processes import HOMES, Load, Parts, expected_alerts, new_tag, part_env, settled
from tests.integration.pgfault import OwnPostgres, new_name


@pytest.fixture
def own_kafka(tmp_root):
    node = start_kafka(tmp_root / f"kafka-{uuid4().hex[:8]}")
    yield node
    node.stop()


@pytest.fixture
def own_pg(tmp_root):
    server = OwnPostgres(tmp_root / f"own-pg-{uuid4().hex[:8]}")
    yield server
    server.close()


async def _run(db: Database, database_url: str, mqtt_url: str, kafka, tmp_path, fault, label: str) -> None:
    """Start the parts, probe, load, `fault(parts)`, load, settle; print and check the counts."""
    started, tag = time.monotonic(), new_tag()
    await seed(db, tag, HOMES)
    parts = Parts(tmp_path, part_env(tmp_path, database_url, mqtt_url, kafka.bootstrap, tag))
    for part in ("store", "alerts", "ingest"):
        await parts.start(part)
    load = Load(mqtt_url, kafka.bootstrap, tag)
    try:
        ready_s = await load.ready(db)
        load.start()
        await load.run_for(400)
        detail = await fault(parts, load)
        await load.run_for(400)
        alive = parts.alive()
        await load.finish()
        counts = await settled(db, load)
        alerts = expected_alerts(load)
    finally:
        await load.close()
        exits = await parts.stop()
    logs = {name: parts.log(name) for name in parts.procs}
    print(f"\n[kafka fault: {label}] sent={counts['sent']} stored={counts['stored']} lost={counts['lost']} "
          f"duplicated={counts['duplicated']}; triggers sent={counts['triggers']} counted in alerts="
          f"{counts['attached']} over {counts['alerts']} alert(s) for {alerts} resident(s); {detail}; "
          f"ready in {ready_s:.1f}s, total {time.monotonic() - started:.1f}s; exits {exits}")
    assert counts["lost"] == 0 and counts["duplicated"] == 0, counts
    assert counts["attached"] == counts["triggers"] and counts["alerts"] == counts["alert_residents"] == alerts
    assert all(alive[name] for name in alive if name != "ingest" or label != "kill -9 ingest"), alive
    for name, code in exits.items():
        assert code == (-9 if (label == "kill -9 ingest" and name == "ingest") else 0), (name, logs[name][-3000:])
        assert not _tracebacks(logs[name]), logs[name][-3000:]


# aiokafka shields its commit request; when kafkafeed's bounded commit (2 s) gives up during a broker outage,
# the shielded request may later fail with nobody awaiting it and asyncio logs that. Nothing is lost (the
# offsets wait for the next commit); known, reported, not ours to hide elsewhere.
_AIOKAFKA_ORPHAN = "coro=<GroupCoordinator._do_commit_offsets()"


def _tracebacks(log: str) -> list[str]:
    """Tracebacks in a process log, but aiokafka's orphaned commit requests after an outage."""
    lines = log.splitlines()
    return [lines[i - 1] for i, line in enumerate(lines)
            if line.startswith("Traceback") and not (i and _AIOKAFKA_ORPHAN in lines[i - 1])]


async def test_kill_9_of_an_ingest_process_loses_nothing(broker, db, db_url, own_kafka, tmp_path):
    async def fault(parts: Parts, load: Load) -> str:
        parts.kill9("ingest")
        await load.run_for(300)  # queued at the broker for ingest's persistent sessions meanwhile
        await parts.start("ingest", "ingest-2")  # same client id: the broker redelivers what was not acked
        return "ingest killed with SIGKILL, a new one started on the same sessions"

    await _run(db, db_url, broker.url, own_kafka, tmp_path, fault, "kill -9 ingest")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_postgres_restart_loses_nothing(broker, own_pg, own_kafka, tmp_path, mode):
    name = new_name("kfault")
    admin = await Database.connect(own_pg.url, min_size=1, max_size=1)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    db = await Database.connect(own_pg.database_url(name), min_size=1, max_size=3, acquire_timeout=2.0)
    await upgrade(db)

    async def fault(parts: Parts, load: Load) -> str:
        await own_pg.stop(mode)
        await load.run_for(300)  # events keep arriving while the database is down
        # Keep it down until the store writer has met the outage (on a loaded machine it may still be behind).
        await eventually(lambda: "retry" in parts.log("store"), timeout=30)
        await own_pg.start()
        retries = {n: parts.log(n).count("retry") for n in ("store", "alerts", "ingest")}
        return f"PostgreSQL stopped (-m {mode}) for 300 events; retry lines logged so far {retries}"

    try:
        await _run(db, own_pg.database_url(name), broker.url, own_kafka, tmp_path, fault, f"pg restart -m {mode}")
    finally:
        await db.close()


async def test_a_kafka_broker_restart_loses_nothing(broker, db, db_url, own_kafka, tmp_path):
    async def fault(parts: Parts, load: Load) -> str:
        down = time.monotonic()
        await asyncio.to_thread(own_kafka.stop)  # controlled shutdown
        await load.run_for(300)
        await asyncio.to_thread(own_kafka.start)  # same data dir and ports
        noticed = {n: parts.log(n).count("does not answer") for n in ("store", "alerts")}
        assert noticed["store"] >= 1, "the store writer's consumer never saw the broker go"
        return f"Kafka down {time.monotonic() - down:.1f}s (stop, 300 events, start); outage seen by {noticed}"

    await _run(db, db_url, broker.url, own_kafka, tmp_path, fault, "kafka restart")
