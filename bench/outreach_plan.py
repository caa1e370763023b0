"""Benchmark: plan one day of outreach calls for N residents (target: 100k in <= 10 s)."""
from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from outreach.planning import plan_calls  # noqa: E402
from telecare.people import CarePlan, Reablement, Resident, RiskFlag  # noqa: E402

ZONES = ("Europe/Madrid",) * 18 + ("Atlantic/Canary", "Europe/London")
TARGET_SECONDS = 10.0


def synthetic_residents(n: int, now: datetime, seed: int = 7) -> tuple[list[Resident], dict[str, datetime]]:
    """A realistic mix: levels 1-3, some reablement, quiet days, risk flags, birthdays, 90 % contacted before."""
    rng = random.Random(seed)
    flags = list(RiskFlag)
    residents, last = [], {}
    for i in range(n):
        rid = f"r{i:06d}"
        reab = Reablement(2, now.date() + timedelta(days=rng.randint(1, 30))) if rng.random() < 0.05 else None
        plan = CarePlan(follow_up_level=rng.choice((1, 2, 2, 3)), reablement=reab,
                        quiet_days=(7,) if rng.random() < 0.2 else (),
                        calling_start=dtime(rng.choice((9, 10, 11))), calling_end=dtime(rng.choice((13, 19, 20))),
                        team=f"team-{i % 40}", named_caller=f"caller-{i % 300}" if rng.random() < 0.3 else None)
        residents.append(Resident(
            rid, "Synthetic", timezone=rng.choice(ZONES),
            date_of_birth=date(rng.randint(1925, 1950), rng.randint(1, 12), rng.randint(1, 28)),
            risk_flags=frozenset(f for f in flags if rng.random() < 0.15), care_plan=plan))
        if rng.random() < 0.9:
            last[rid] = now - timedelta(days=rng.uniform(0, 60))
    return residents, last


def run_plan_bench(n: int = 100_000, now: datetime | None = None) -> dict[str, object]:
    """Time plan_calls over n synthetic residents; returns seconds, calls planned and per-purpose counts."""
    now = now or datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)  # 07:00 in Madrid, the daily run
    residents, last = synthetic_residents(n, now)
    started = time.perf_counter()
    plans = plan_calls(residents, last, set(), now)
    seconds = time.perf_counter() - started
    return {"residents": n, "seconds": round(seconds, 3), "calls_planned": len(plans),
            "per_purpose": dict(Counter(p.dedupe_key.split(":")[0] for p in plans)),
            "target_seconds": TARGET_SECONDS, "within_target": seconds <= TARGET_SECONDS}


if __name__ == "__main__":
    print(json.dumps(run_plan_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
