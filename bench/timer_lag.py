"""Benchmark: timer lag with a million supervised devices, in steady state and right after an outage.

DEVICES / 6 residents of the demo fleet (6 devices each, every one supervised). Their states go to `rules-state`
armed so that each gateway's supervision (5 minutes) comes due at a different moment, evenly from OUTAGE ago to
WINDOW seconds from now (bench/rules_restart.py `_publish_states` with a spread); the other devices' 25-hour
supervision stays armed. Then a Kafka rules worker *process* starts (as after a kill -9 that lasted the
outage), restores them and runs until the window's end. The bench reads every verdict on `alert-triggers`
(its own consumer group, from the start) as it arrives: lag = arrival - the timer's due time (`AlertTrigger.at`).
- `overdue_at_ready`: the timers due before the worker's state was ready (the outage, the worker's own start-up):
  how many, and how long after `state_ready` the last of them arrived (the start-up backlog cleared);
- `due_after_ready`: the timers due after that, p50/p99/max: right after the outage, so including those that
  waited behind the start-up backlog (target p99 <= 1 s, `meets_target`);
- `steady`: the timers due once that backlog was cleared (`steady_meets_target`);
- every gateway's timer must fire exactly once: `missing` and `duplicated` are counted.
Run: `telecare bench timer-lag [--devices N] [--window-seconds S] [--outage-minutes M]` or
`python bench/timer_lag.py [DEVICES] [WINDOW_S] [OUTAGE_MINUTES]`.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import kafka_broker  # noqa: E402
from bench.rules_restart import _fleet, _publish_states, _restart  # noqa: E402
from telecare.alerts import AlertTrigger, AlertType  # noqa: E402
from telecare.bus import ALERT_TRIGGERS  # noqa: E402
from telecare.kafkabus import KafkaBus  # noqa: E402

DEVICES_PER_RESIDENT = 6  # the demo fleet's homes
TARGET_P99_S = 1.0
SETTLE_S = 3.0  # after the worker's exit, until no verdict has arrived for this long


def _quantiles(lags: list[float]) -> dict:
    if not lags:
        return {"n": 0}
    q = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else lags * 99
    return {"n": len(lags), "p50_s": round(q[49], 3), "p99_s": round(q[98], 3), "max_s": round(max(lags), 3)}


async def _collect(bus: KafkaBus, group: str, arrivals: list[tuple[str, str, float, float]]) -> None:
    async for message in bus.subscribe(ALERT_TRIGGERS, group):
        v = message.value
        if isinstance(v, AlertTrigger):
            arrivals.append((v.resident_id, v.type.value, v.at.timestamp(), time.time()))


async def run_timer_lag_bench(devices: int = 1_000_000, window_s: float = 180.0, outage_minutes: float = 0.0) -> dict:
    """Lag of every timer fired by a restarted worker over DEVICES supervised devices; see the module doc."""
    n = max(1, devices // DEVICES_PER_RESIDENT)
    arrivals: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="telecare-bench-lag-") as tmp, kafka_broker(Path(tmp)) as bootstrap:
        bus = KafkaBus(bootstrap)
        try:
            await bus.start()
            group = f"bench-lag-{uuid.uuid4().hex[:6]}"
            bus.register(ALERT_TRIGGERS, group)  # from now: a shared broker's older verdicts are not this run's
            collector = asyncio.create_task(_collect(bus, group, arrivals))
            fleet = _fleet(n)
            started = time.time()
            publish_s = await _publish_states(bus, fleet, timedelta(minutes=outage_minutes), timedelta(seconds=window_s))
            spawned = time.time()
            marks = await _restart(bootstrap, n, Path(tmp), until=started + window_s + 2.0)
            seen = -1
            while seen != len(arrivals) and not collector.done():  # until the last verdicts have arrived
                seen = len(arrivals)
                await asyncio.sleep(SETTLE_S)
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)
        finally:
            await bus.close()
    ready = spawned + marks["state_ready"]
    earliest = started - outage_minutes * 60 - 1.0
    ours = {r.id for r in fleet.residents}  # a shared broker carries other verdicts too (the test suite's)
    arrivals = [a for a in arrivals if a[2] >= earliest and a[0] in ours]  # this run's timers only
    gateway = [a for a in arrivals if a[1] == AlertType.DEVICE_OFFLINE.value]
    fired = Counter((rid, rule, due) for rid, rule, due, _ in arrivals)
    after = [(due, arrived - due) for _, _, due, arrived in arrivals if due > ready]
    overdue = [arrived for _, _, due, arrived in arrivals if due <= ready]
    cleared = max(overdue, default=ready)  # the start-up backlog (what came due while the worker was away)
    steady = [lag for due, lag in after if due > cleared]
    return {
        "devices": n * DEVICES_PER_RESIDENT, "residents": n, "window_s": window_s, "outage_minutes": outage_minutes,
        "states_published_s": round(publish_s, 1), "worker": marks,
        "timers_fired": len(arrivals), "gateway_timers_expected": n, "gateway_timers_fired": len(gateway),
        "missing": max(0, n - len({a[0] for a in gateway})), "duplicated": sum(c - 1 for c in fired.values()),
        "duplicated_examples": [k for k, c in fired.items() if c > 1][:3],
        "overdue_at_ready": {"n": len(overdue), "last_arrived_after_ready_s": round(cleared - ready, 2)},
        "due_after_ready": _quantiles([lag for _, lag in after]),
        "steady": _quantiles(steady),
        "target_p99_s": TARGET_P99_S,
        "meets_target": bool(after) and _quantiles([lag for _, lag in after])["p99_s"] <= TARGET_P99_S,
        "steady_meets_target": bool(steady) and _quantiles(steady)["p99_s"] <= TARGET_P99_S,
    }


def main(argv: list[str] | None = None) -> int:
    """`python bench/timer_lag.py [DEVICES] [WINDOW_S] [OUTAGE_MINUTES]`."""
    argv = sys.argv[1:] if argv is None else argv
    devices = int(argv[0]) if argv else 1_000_000
    window = float(argv[1]) if len(argv) > 1 else 180.0
    outage = float(argv[2]) if len(argv) > 2 else 0.0
    print(json.dumps(asyncio.run(run_timer_lag_bench(devices, window, outage)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
