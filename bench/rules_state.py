"""Benchmark: what the rules hold per resident and per device, timers after an outage, state save/load.

For N simulated residents (the demo fleet, 6 devices each):
- registry view: bytes per device of the rules' Directory (tracemalloc; every row brings its own strings,
  as rows from the database do);
- rule state: bytes per resident once every timer is armed (tracemalloc), timers per resident: as the engine
  builds them (what the in-process runner holds) and packed (rules/packed.py: what a Kafka rules host keeps
  between a resident's events, the target's case), with pack/unpack µs per state;
- timer lag after an outage: the clock jumps a day (every supervision and inactivity timer is due) and the
  runner's tick order (DueTimes, engine.tick) fires them all: p50/p99/max of due -> fired, wall seconds;
- save/load: PgRuleStateStore.save_many (in the saver's chunks) and load_all against real PostgreSQL.
Run: `python bench/rules_state.py [N]` or `telecare bench rules-state`. Extrapolated to 1M residents linearly.
"""
from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import scratch_database  # noqa: E402
from demo.fleet import barcelona_fleet  # noqa: E402
from rules.directory import Directory  # noqa: E402
from rules.packed import pack_state, unpack_state  # noqa: E402
from rules.engine import new_state, next_due, tick  # noqa: E402
from rules.saver import SAVE_CHUNK  # noqa: E402
from rules.state import PgRuleStateStore  # noqa: E402
from rules.timers import DueTimes  # noqa: E402
from telecare.people import Device, Resident  # noqa: E402

MILLION = 1_000_000
TARGET_BYTES = 1 << 30  # 1 GiB for 1M residents, and for the registry view of 6M devices
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _fresh(text: str) -> str:
    return (text + "\0")[:-1]  # a new str object: each database row brings its own


class _Rows:
    """A ResidentLookup over in-memory rows (the registry's answers)."""

    def __init__(self, residents: list[Resident], devices: list[Device]) -> None:
        self._residents, self._devices = residents, devices

    async def all_residents(self) -> list[Resident]:
        return self._residents

    async def all_devices(self) -> list[Device]:
        return [Device(_fresh(d.id), d.type, _fresh(d.gateway_id), _fresh(d.resident_id)) for d in self._devices]

    async def resident(self, resident_id: str) -> Resident | None:
        return None


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _codec_us(states: list, packed: list[bytes]) -> tuple[float, float]:
    """µs per state to pack and to unpack: best of 3 over the sample, collector paused (the codec's own cost)."""
    best = [float("inf"), float("inf")]
    gc.disable()
    try:
        for _ in range(3):
            started = time.perf_counter()
            for state in states:
                pack_state(state)
            middle = time.perf_counter()
            for raw in packed:
                unpack_state(raw)
            best = [min(best[0], middle - started), min(best[1], time.perf_counter() - middle)]
    finally:
        gc.enable()
    return best[0] / len(states) * 1e6, best[1] / len(packed) * 1e6


def _lag_after_outage(directory: Directory, states: dict, outage: timedelta) -> dict:
    due = DueTimes()
    for rid, state in states.items():
        due.schedule(rid, next_due(state))
    now = NOW + outage
    lags: list[float] = []
    fired = 0
    started = time.perf_counter()
    for rid in due.due(now):
        state, triggers = tick(directory.residents[rid], directory.devices(rid), states[rid], now)
        states[rid] = state
        fired += len(triggers)
        lags.append(time.perf_counter() - started)  # every timer here was due at the jump
    wall = time.perf_counter() - started
    q = statistics.quantiles(lags, n=100) if len(lags) > 1 else lags * 99
    return {"timers_fired": fired, "wall_s": round(wall, 2), "lag_p50_s": round(q[49], 2),
            "lag_p99_s": round(q[98], 2), "lag_max_s": round(max(lags), 2)}


async def run_rules_state_bench(n: int = 100_000, *, with_db: bool = True) -> dict:
    """Bytes per resident and per device, timer lag after an outage, save/load times for N residents."""
    residents, devices = barcelona_fleet(n, seed=7, today=NOW.date())
    tracemalloc.start()
    directory = Directory(_Rows(residents, []))
    await directory.refresh_all()  # residents only
    directory._lookup = _Rows(residents, devices)  # noqa: SLF001 - measure the device view alone
    before = _traced()
    await directory.refresh_devices(force=True)
    registry_bytes = _traced() - before
    before = _traced()
    states = {r.id: tick(r, directory.devices(r.id), new_state(r.id), NOW)[0] for r in residents}
    state_bytes = _traced() - before
    before = _traced()
    packed = {rid: pack_state(state) for rid, state in states.items()}
    packed_bytes = _traced() - before
    tracemalloc.stop()
    pack_us, unpack_us = _codec_us(list(states.values())[:10_000], list(packed.values())[:10_000])
    unpacked = {rid: unpack_state(raw) for rid, raw in packed.items()}
    if unpacked != states:
        raise RuntimeError("unpacked states differ from the packed ones")
    del packed, unpacked
    timers = sum(len(s.timers) for s in states.values())
    result: dict = {
        "residents": n, "devices": len(devices), "timers_per_resident": round(timers / n, 2),
        "registry_bytes_per_device": round(registry_bytes / len(devices)),
        "registry_gib_at_6m_devices": round(registry_bytes / len(devices) * 6 * MILLION / 2**30, 2),
        "state_bytes_per_resident": round(state_bytes / n),
        "state_gib_at_1m_residents": round(state_bytes / n * MILLION / 2**30, 2),
        "packed_state_bytes_per_resident": round(packed_bytes / n),
        "packed_state_gib_at_1m_residents": round(packed_bytes / n * MILLION / 2**30, 2),
        "pack_us": round(pack_us, 1), "unpack_us": round(unpack_us, 1),
        "target_gib": 1.0,
    }
    if with_db:
        async with AsyncExitStack() as stack:
            db, _ = await scratch_database(stack, "bench_rules")
            store = PgRuleStateStore(db)
            batch = list(states.values())
            started = time.perf_counter()
            for k in range(0, n, SAVE_CHUNK):
                await store.save_many(batch[k:k + SAVE_CHUNK], NOW)
            save_s = time.perf_counter() - started
            started = time.perf_counter()
            loaded = await store.load_all()
            load_s = time.perf_counter() - started
        if loaded != states:
            raise RuntimeError("loaded states differ from the saved ones")
        result.update({"save_s": round(save_s, 2), "load_s": round(load_s, 2),
                       "save_load_s_at_1m": round((save_s + load_s) * MILLION / n, 1)})
    result["after_outage"] = _lag_after_outage(directory, states, timedelta(days=1))
    result["after_outage"]["wall_s_at_1m"] = round(result["after_outage"]["wall_s"] * MILLION / n, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run_rules_state_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)),
                     indent=2))
