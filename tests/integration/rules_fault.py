"""The rules failover scenario on a real broker with real worker processes (shared by the aiokafka and Faust hosts).

A backlog is loaded; worker A starts on it and worker B joins while A is still draining it; events then flow at a
steady rate (heartbeats, falls, help presses, one backdated bed exit per resident whose timer falls due seconds
later); A is killed with SIGKILL mid-stream and B must take its partitions after the session timeout. Counted
from `alert-triggers` (deduplicated by verdict key, rules/verdicts.py) and from the alerts table the verdicts
were applied to: every alarm evaluated at least once, no alarm alerted twice, every bed timer fired once.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alerts.store import AlertStore
from rules.packed import unpack_state
from telecare.alerts import AlertType
from telecare.bus import EVENTS
from telecare.clock import SystemClock
from telecare.events import Event, EventType
from telecare.kafkabus import RULES_STATE, KafkaBus
from tests.integration.kafka_rules_worker import lookup
from tests.integration.rules_hosts import VerdictApplier

ALARMS = {EventType.FALL: ("fall_sensor", AlertType.FALL), EventType.HELP_BUTTON: ("pendant", AlertType.HELP_BUTTON)}


@dataclass
class FaultResult:
    sent: int
    alarms: int
    evaluated: int
    lost: int
    duplicated: int
    timers_expected: int
    timers_fired: int
    timers_duplicated: int
    timers_missing: int
    raw_verdicts: int
    stale_states: int
    joined_during_backlog: bool

    def line(self, host: str) -> str:
        return (f"rules failover ({host}): sent {self.sent} ({self.alarms} alarms) / evaluated {self.evaluated} / "
                f"lost {self.lost} / duplicated {self.duplicated}; timers {self.timers_fired}/{self.timers_expected} "
                f"fired, {self.timers_duplicated} twice, {self.timers_missing} missing; {self.raw_verdicts} verdicts "
                f"before dedupe; {self.stale_states} stale states; B joined during backlog: {self.joined_during_backlog}")


def _status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"owned": [], "evaluated": 0}


def _spawn(spec: dict, work: Path, name: str) -> tuple[subprocess.Popen, Path]:
    status = work / f"{name}.status"
    spec_file = work / f"{name}.json"
    spec_file.write_text(json.dumps({**spec, "status": str(status)}))
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.kafka_rules_worker", str(spec_file)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    return proc, status


async def _until(check, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a worker exited ({p.returncode}) while waiting for {what}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def _final_states(bus: KafkaBus, host: str, group: str) -> dict[str, str | bytes]:
    """Resident id -> stored state where the host keeps it: rules-state (packed), or the Faust table's changelog
    (JSON text)."""
    if host != "faust":
        rows = await bus.read_table(RULES_STATE, set(range(bus.partitions(RULES_STATE))))
        return {k: v for k, v in rows.items() if v}
    rows = await bus.read_table(f"events.{group}-rules-state-changelog", set(range(bus.partitions(EVENTS))))
    return {_json_or_text(k.encode()): _json_or_text(v) for k, v in rows.items() if v}


def _json_or_text(raw: bytes) -> str:
    """Faust's serializers: `raw` keys, `json` values (a JSON string holding our JSON)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw.decode()
    return value if isinstance(value, str) else raw.decode()


async def run_failover(bootstrap: str, db, work: Path, host: str = "aiokafka", *, residents: int = 60,
                       backlog: int = 60_000, rate: int = 150, seconds: float = 24.0, kill_at: float = 6.0,
                       session_timeout_ms: int = 6000, pause_s: float | None = None) -> FaultResult:
    """Run the scenario; return the counts (the caller asserts). `pause_s`: A is stopped (SIGSTOP) for that long
    instead of killed, then continues (SIGCONT): a worker that wakes up after its partitions moved."""
    work.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    rids = [f"fo{tag}-{i}" for i in range(residents)]
    for rid in rids:
        await db.execute("INSERT INTO residents (id, name) VALUES (%s, %s)", (rid, "Test Resident"))
    group = f"rules-fo-{tag}"
    bus = KafkaBus(bootstrap)
    applier = VerdictApplier(bus, db, AlertStore(db, bus), SystemClock(), lookup(rids))
    bus.register(EVENTS, group)
    await bus.anchor(EVENTS, group)  # the backlog below belongs to the new group
    applying = asyncio.create_task(applier.run())
    rng, last_ts = random.Random(7), {}
    expected_alarms: set[str] = set()
    expected_timers: set[str] = set()
    sent = 0
    origin: dict[str, tuple[int, float]] = {}  # alarm key -> (index among alarms, seconds since start)
    t0 = time.monotonic()

    def make(rid: str, kind: EventType, ts: datetime | None = None) -> Event:
        device = ALARMS[kind][0] if kind in ALARMS else ("bed_sensor" if kind is EventType.BED_EXIT else "pendant")
        now = datetime.now(timezone.utc)
        ts = ts or now
        ev = Event(uuid.uuid4(), f"{rid}-gateway", f"{rid}-{device}", rid, kind, ts, now, uuid.uuid4().hex, 80)
        dev = ev.device_id
        last_ts[dev] = max(last_ts.get(dev, ts), ts)
        if kind in ALARMS:
            key = f"event|{rid}|{ALARMS[kind][1].value}|{ev.id}"
            expected_alarms.add(key)
            origin[key] = (len(origin), round(time.monotonic() - t0, 1))
        return ev

    def mixed(n: int) -> list[tuple[str, Event]]:
        out = []
        for _ in range(n):
            rid, roll = rng.choice(rids), rng.random()
            kind = EventType.FALL if roll < 0.1 else EventType.HELP_BUTTON if roll < 0.2 else EventType.HEARTBEAT
            out.append((rid, make(rid, kind)))
        return out

    procs: list[subprocess.Popen] = []
    try:
        for start in range(0, backlog, 2000):
            await bus.publish_many(EVENTS, mixed(min(2000, backlog - start)))
        sent += backlog
        spec = {"bootstrap": bootstrap, "group": group, "residents": rids, "host": host,
                "session_timeout_ms": session_timeout_ms}
        gate = work / "worker-b.gate"  # B starts with A but joins the group only once A is draining the backlog
        a, a_status = _spawn(spec, work, "worker-a")
        b, b_status = _spawn({**spec, "gate": str(gate)}, work, "worker-b")
        procs += [a, b]
        await _until(lambda: _status(a_status)["evaluated"] > 0, 90, "worker A evaluating the backlog", procs)
        gate.touch()
        await _until(lambda: _status(b_status)["owned"], 90, "worker B owning partitions", procs)
        joined_during_backlog = _status(a_status)["evaluated"] < backlog
        bed_at = {rid: rng.uniform(1.0, seconds - 8.0) for rid in rids}
        started, killed = time.monotonic(), False
        while (elapsed := time.monotonic() - started) < seconds:
            batch = mixed(max(1, rate // 10))
            for rid in [r for r, at in bed_at.items() if at <= elapsed]:
                del bed_at[rid]
                ts = datetime.now(timezone.utc) - timedelta(seconds=57)  # its 1-minute window ends in 3 s
                batch.append((rid, make(rid, EventType.BED_EXIT, ts)))
                expected_timers.add(f"timer|{rid}|{AlertType.BED_EXIT_NO_RETURN.value}|"
                                    f"{(ts + timedelta(minutes=1)).timestamp()}|{rid}-bed_sensor")
            await bus.publish_many(EVENTS, batch)
            sent += len(batch)
            if not killed and elapsed >= kill_at:
                kill_time = time.monotonic() - t0
                if pause_s is None:
                    a.send_signal(signal.SIGKILL)
                    a.wait()
                else:
                    a.send_signal(signal.SIGSTOP)
                    asyncio.get_running_loop().call_later(pause_s, a.send_signal, signal.SIGCONT)
                killed = True
            await asyncio.sleep(0.1)
        wanted = expected_alarms | expected_timers
        try:
            await _until(lambda: wanted <= applier.seen, 90 + session_timeout_ms / 1000, "every verdict",
                         [b] if pause_s is None else [a, b])
        except AssertionError:
            missing = wanted - applier.seen
            where = sorted((bus.partition_of(EVENTS, k.split("|")[1]), origin.get(k, (-1, -1.0)), k[:5]) for k in missing)
            print(f"killed at {kill_time:.1f}s; missing (partition, (index, t)): {where[:8]} ... {where[-4:]}")
            print(f"missing {len(missing)} of {len(wanted)} verdicts, e.g. {sorted(missing)[:3]}; "
                  f"status A {_status(a_status)}, B {_status(b_status)}; {applier.progress()}")
            for name in ("worker-a", "worker-b"):  # what the workers logged (rebalances, restores, errors): the tmp dir goes
                print(f"--- worker {name} log (tail) ---\n" + "\n".join(
                    (work / f"{name}.log").read_text(errors="replace").splitlines()[-40:]))
            raise
        await asyncio.sleep(3)  # a late duplicate timer (a different key) would show up here
        evaluated = _status(a_status)["evaluated"] + _status(b_status)["evaluated"]
        seen_last: dict[str, datetime] = {}
        for rid, text in (await _final_states(bus, host, group)).items():
            if rid in set(rids):
                seen_last.update(unpack_state(text).last_seen)
        stale = sum(1 for dev, ts in last_ts.items() if seen_last.get(dev) != ts)
        mine = {k for k in applier.seen if k.split("|")[1] in set(rids)}
        alarm_rows = await db.fetchval("SELECT coalesce(sum(count), 0) FROM alerts WHERE resident_id LIKE %s "
                                       "AND type IN ('fall', 'help_button')", (f"fo{tag}-%",))
        bed_rows = await db.fetchval("SELECT coalesce(sum(count), 0) FROM alerts WHERE resident_id LIKE %s "
                                     "AND type = 'bed_exit_no_return'", (f"fo{tag}-%",))
        timer_keys = {k for k in mine if k.startswith("timer|")}
        return FaultResult(
            sent=sent, alarms=len(expected_alarms), evaluated=evaluated,
            lost=len(expected_alarms - mine),
            duplicated=len({k for k in mine if k.startswith("event|")} - expected_alarms)
            + max(0, alarm_rows - len(expected_alarms)),
            timers_expected=len(expected_timers), timers_fired=len(timer_keys & expected_timers),
            timers_duplicated=len(timer_keys - expected_timers) + max(0, bed_rows - len(expected_timers)),
            timers_missing=len(expected_timers - timer_keys),
            raw_verdicts=sum(applier.raw.values()), stale_states=stale, joined_during_backlog=joined_during_backlog)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        applying.cancel()
        await asyncio.gather(applying, return_exceptions=True)
        await bus.close()
