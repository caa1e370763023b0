"""The outreach scheduler (the only apscheduler import): daily planning, dispatch ticks, CAP feed polling.

Only the process holding a PostgreSQL session advisory lock runs jobs, so replicas are safe. Jobs live in
memory: every job is declared here in code, and the leader runs a catch-up planning pass whenever it takes
the lead (start, restart, failover), which is exactly what a persisted "missed 07:00 run" would have done.
A persistent job store would add a second connection pool and a table outside the migrations for nothing;
migration 0011 drops the table an earlier version created. Planning is idempotent (task keys), so the
catch-up pass and the day's 07:00 run never create a call twice.
"""
from __future__ import annotations

import asyncio
import logging
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from outreach.cap_feed import poll_feed
from outreach.planning import plan_calls
from outreach.tasks import TaskStore
from telecare.clock import Clock
from telecare.errors import StoreError, TelecareError
from telecare.metrics import SCHEDULER_JOB_RUNS, SCHEDULER_LEADER
from telecare.people import Resident, ResidentLookup
from telecare.store import Database

log = logging.getLogger(__name__)
KEY_HORIZON = timedelta(days=60)  # planning skips keys of tasks due in this past window before inserting
# Jobs run however late they are (APScheduler's default misfire grace of 1 s would skip a run the event loop
# was too busy to start on time), once (coalesce), never in parallel.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
# The leader's job runner, by scheduler name: jobs hold only (name, job), never live objects.
_ACTIVE: dict[str, OutreachScheduler] = {}


async def _run_job(name: str, job: str) -> None:
    """Entry point of every job."""
    active = _ACTIVE.get(name)
    if active is None:
        log.warning("scheduler job %s fired with no active scheduler %s", job, name)
        return
    await active.run_job(job)


class OutreachScheduler:
    """Leader-elected job runner. `dispatch` is the dialer's tick, called every `dispatch_seconds`."""

    def __init__(self, db: Database, residents: Sequence[Resident] | ResidentLookup, clock: Clock, *,
                 dispatch: Callable[[], Awaitable[None]], weather_feed_url: str | None = None,
                 name: str = "outreach", dispatch_seconds: float = 2.0, feed_minutes: float = 15.0,
                 planning_hour: int = 7, planning_zone: str = "Europe/Madrid", lease_seconds: float = 5.0) -> None:
        self._db, self._residents, self._clock, self._dispatch = db, residents, clock, dispatch
        self._feed_url, self._name = weather_feed_url, name
        self._dispatch_s, self._feed_min, self._lease_s = dispatch_seconds, feed_minutes, lease_seconds
        self._planning = CronTrigger(hour=planning_hour, minute=0, timezone=ZoneInfo(planning_zone))
        self._lock_key = 0x7E1EC0DE_00000000 + zlib.crc32(f"telecare-scheduler:{name}".encode())
        self._scheduler: AsyncIOScheduler | None = None
        self._lease: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.job_runs: Counter[str] = Counter()

    @property
    def is_leader(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Try to become the leader; return once the first attempt is decided (standbys keep trying)."""
        decided = asyncio.Event()
        self._lease = asyncio.create_task(self._hold_lease(decided), name=f"scheduler-lease-{self._name}")
        await decided.wait()

    async def stop(self) -> None:
        """Stop jobs and release the lock so a standby takes over."""
        if self._lease is not None:
            self._lease.cancel()
            await asyncio.gather(self._lease, return_exceptions=True)
            self._lease = None
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _hold_lease(self, decided: asyncio.Event) -> None:
        while True:
            try:
                async with self._db.connection() as conn:
                    # A session lock on a connection we keep: it is released if this process dies.
                    if await conn.fetchval("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)):
                        try:
                            self._lead()
                            decided.set()
                            while True:  # a lost connection means a lost lock: step down, try again
                                await asyncio.sleep(self._lease_s)
                                await conn.fetchval("SELECT 1")
                        finally:
                            self._step_down()
                            try:
                                await conn.execute("SELECT pg_advisory_unlock(%s)", (self._lock_key,))
                            except StoreError:
                                pass
            except StoreError as err:
                log.warning("scheduler %s lost or could not reach the database: %s", self._name, err)
            except Exception:  # noqa: BLE001 - e.g. the job store failing to start: retry, never die silently
                log.exception("scheduler %s could not lead", self._name)
            decided.set()
            await asyncio.sleep(self._lease_s)

    def _lead(self) -> None:
        scheduler = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, job_defaults=JOB_DEFAULTS,
                                     timezone=ZoneInfo("UTC"))
        scheduler.start(paused=True)
        self._scheduler = scheduler  # from here on _step_down shuts it down, even if the rest fails
        scheduler.add_job(_run_job, self._planning, args=[self._name, "daily_planning"], id="daily_planning")
        scheduler.add_job(_run_job, IntervalTrigger(seconds=self._dispatch_s), args=[self._name, "dispatch"],
                          id="dispatch")
        if self._feed_url:
            scheduler.add_job(_run_job, IntervalTrigger(minutes=self._feed_min), args=[self._name, "weather_feed"],
                              id="weather_feed")
        _ACTIVE[self._name] = self
        SCHEDULER_LEADER.set(1)
        scheduler.resume()
        log.info("scheduler %s is the leader", self._name)
        job = asyncio.get_running_loop().create_task(self._catch_up())
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _catch_up(self) -> None:
        """On taking the lead: plan what is due now, and read the feed without waiting for its first tick."""
        await self.run_job("catch_up")
        if self._feed_url:
            await self.run_job("weather_feed")

    def _step_down(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            SCHEDULER_LEADER.set(0)
            log.info("scheduler %s stepped down", self._name)
        if _ACTIVE.get(self._name) is self:
            del _ACTIVE[self._name]

    def next_run(self, job_id: str) -> object:
        """When a job runs next (None if unknown or not the leader)."""
        job = self._scheduler.get_job(job_id) if self._scheduler else None
        return job.next_run_time if job else None

    async def run_job(self, job: str) -> None:
        """Run one job now; errors are logged and counted, never raised into the scheduler."""
        try:
            if job in ("daily_planning", "catch_up"):
                await self.plan_now()
            elif job == "dispatch":
                await self._dispatch()
            elif job == "weather_feed" and self._feed_url:
                found = await poll_feed(self._db, self._residents, self._feed_url, self._clock.now())
                log.info("weather feed: %s warning(s), %s new campaign(s)", len(found),
                         sum(s.created for s in found))
            self.job_runs[job] += 1
            SCHEDULER_JOB_RUNS.labels(job, "ok").inc()
        except TelecareError as err:
            SCHEDULER_JOB_RUNS.labels(job, "error").inc()
            log.warning("scheduler job %s failed: %s", job, err)
        except Exception:  # noqa: BLE001 - a job bug must not kill the scheduler
            SCHEDULER_JOB_RUNS.labels(job, "error").inc()
            log.exception("scheduler job %s crashed", job)

    async def plan_now(self) -> int:
        """One planning pass: roll missed windows over, then plan today's calls. Returns tasks created."""
        lookup = self._residents
        residents = await lookup.all_residents() if hasattr(lookup, "all_residents") else list(lookup)
        now, store = self._clock.now(), TaskStore(self._db)
        moved = await store.roll_over({r.id: r for r in residents}, now)
        last = await store.last_successful_contact()
        keys = await store.known_keys((now - KEY_HORIZON).date())
        unreached = await store.last_unreached_follow_up()
        created = await store.save_plans(plan_calls(residents, last, keys, now, unreached), now)
        log.info("planning pass: %s residents, %s tasks created, %s moved to their next window",
                 len(residents), created, moved)
        return created
