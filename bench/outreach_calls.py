"""Benchmark: a 10k-call campaign through the Dialer + TwilioTelephony against the local fake Twilio.

Reports the most calls the fake received in any one-second window (must be <= CPS) and the overall rate / CPS
(must be >= 0.95). Run: `python bench/outreach_calls.py [N] [CPS]` or `telecare bench outreach`.
Uses TELECARE_DATABASE_URL when set (a scratch database is created in it), else an embedded PostgreSQL.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# The fake Twilio server lives with the tests (tests/fakes): this benchmark runs from a source checkout,
# as a script or through `telecare bench outreach`, so the repository root goes on the path either way.
_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from devices.registry import Registry  # noqa: E402
from outreach.call_log import CallLog  # noqa: E402
from outreach.dialer import Dialer  # noqa: E402
from outreach.pacing import max_in_window  # noqa: E402
from outreach.planning import PlannedCall  # noqa: E402
from outreach.task_records import NewCampaign  # noqa: E402
from outreach.tasks import TaskStore  # noqa: E402
from alerts.store import AlertStore  # noqa: E402
from telecare.errors import TelecareError  # noqa: E402
from telecare.bus import InProcessBus  # noqa: E402
from telecare.clock import SystemClock  # noqa: E402
from telecare.people import Resident  # noqa: E402
from telecare.store import Database  # noqa: E402
from telecare.store.migrate import upgrade  # noqa: E402

MIN_RATE_RATIO = 0.95


async def _scratch_database(server_url: str) -> tuple[Database, Database, str]:
    admin = await Database.connect(server_url, min_size=1, max_size=1)
    name = f"bench_calls_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = await Database.connect(urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")), min_size=2, max_size=10)
    await upgrade(db)
    return admin, db, name


async def _campaign(db: Database, n: int, now: datetime) -> None:
    """n residents (one phone each) and one automated weather campaign calling all of them."""
    residents = [Resident(f"b{i:06d}", "Bench", phones=(f"+3460{i:07d}",)) for i in range(n)]
    await Registry(db).write_batch(residents, [])
    plans = [PlannedCall(r.id, "weather", "automated", now.date(), now - timedelta(minutes=1),
                         now + timedelta(hours=6), 100, None, f"bench:{r.id}", "bench") for r in residents]
    await TaskStore(db).create_campaign(NewCampaign("weather", "Bench heat warning", "Avís de calor.", "bench"),
                                        plans, now)


async def measure(db: Database, n: int, cps: float) -> dict[str, float | int | bool]:
    """Dial the whole campaign against a fresh fake Twilio and measure what it received."""
    from outreach.twilio_telephony import TwilioTelephony
    try:
        from tests.fakes.fake_twilio import FakeTwilio
    except ModuleNotFoundError as err:
        raise TelecareError("telecare bench outreach needs a source checkout (tests/fakes/fake_twilio.py)") from err

    clock = SystemClock()
    await _campaign(db, n, clock.now())
    with FakeTwilio() as fake:
        telephony = TwilioTelephony(fake.account_sid, fake.auth_token, "+34930000000", "https://telecare.example",
                                    base_url=fake.base_url, clock=clock)
        # Nobody answers in the fake, so no call ends: allow every call to be in flight at once.
        dialer = Dialer(TaskStore(db), CallLog(db), telephony, AlertStore(db, InProcessBus()), Registry(db),
                        clock, cps=cps, max_concurrent=n, batch=500)
        telephony.set_update_handler(dialer.on_update)
        started = time.monotonic()
        placed = await dialer.dispatch()
        await dialer.drain()
        elapsed = time.monotonic() - started
        await telephony.close()
        times = sorted(r.at for r in fake.calls_created())
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    window_max = max_in_window(times, 1.0)
    return {"calls": n, "cps": cps, "placed": placed, "received_by_fake_twilio": len(times),
            "seconds": round(elapsed, 2), "max_calls_in_any_1s_window": window_max,
            "rate_per_s": round(rate, 2), "rate_over_cps": round(rate / cps, 3),
            "ok": len(times) == n and window_max <= cps and rate / cps >= MIN_RATE_RATIO}


async def run_calls_bench(n: int = 10_000, cps: float = 100.0) -> dict[str, float | int | bool]:
    """The calls benchmark on TELECARE_DATABASE_URL or an embedded PostgreSQL; returns the measurements."""
    url = os.environ.get("TELECARE_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="telecare-bench-") as tmp:
        embedded = None
        if not url:
            from telecare.store.embedded import EmbeddedPostgres

            embedded = EmbeddedPostgres(Path(tmp) / "pg")
            url = embedded.start()
        admin, db, name = await _scratch_database(url)
        try:
            return await measure(db, n, cps)
        finally:
            await db.close()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    cps = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    print(json.dumps(asyncio.run(run_calls_bench(n, cps)), indent=2))
