"""Retention per data kind: the pure decision (which mechanism, which horizons) and the job that enforces it."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from telecare.errors import StoreError
from telecare.settings import Settings
from telecare.store import Database
from telecare.store.migrate import DbFeatures

log = logging.getLogger(__name__)


class EventsMechanism(StrEnum):
    TIMESCALE_POLICY = "timescale retention policy"  # Timescale licence: its background job drops chunks
    DROP_CHUNKS = "drop_chunks by the job"            # Apache-only TimescaleDB build: no policies, we drop
    DROP_PARTITIONS = "drop monthly partitions"       # plain PostgreSQL


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days kept per data kind (TELECARE_RETENTION_*)."""

    events_days: int = 730
    dead_letters_days: int = 30
    audit_days: int = 1825

    @classmethod
    def from_settings(cls, s: Settings) -> RetentionPolicy:
        return cls(s.retention_events_days, s.retention_dead_letters_days, s.retention_audit_days)


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """What one run of the job does."""

    events: EventsMechanism
    events_horizon: datetime
    set_policy: bool  # TIMESCALE_POLICY only: (re)create the policy (missing, or another horizon)
    events_days: int
    dead_letters_before: datetime
    audit_keep_days: int
    now: datetime


def decide(f: DbFeatures, p: RetentionPolicy, now: datetime) -> RetentionPlan:
    """The mechanism this database allows, and the horizons for `now` (pure)."""
    if not f.hypertable:
        mechanism, set_policy = EventsMechanism.DROP_PARTITIONS, False
    elif f.licence == "timescale":
        mechanism = EventsMechanism.TIMESCALE_POLICY
        set_policy = f.retention_policy_days is None or abs(f.retention_policy_days - p.events_days) > 1e-6
    else:  # 'apache' (or unknown): retention policies are a community-licence feature; drop_chunks is not
        mechanism, set_policy = EventsMechanism.DROP_CHUNKS, False
    return RetentionPlan(mechanism, now - timedelta(days=p.events_days), set_policy, p.events_days,
                         now - timedelta(days=p.dead_letters_days), p.audit_days, now)


@dataclass
class RetentionResult:
    """What a run removed (counts and partition names only: no personal data)."""

    mechanism: EventsMechanism
    dropped_partitions: list[str] = field(default_factory=list)
    dropped_chunks: int = 0
    policy_set: bool = False
    dead_letters: int = 0
    audit_rows: int = 0
    notes: list[str] = field(default_factory=list)


async def _events(db: Database, plan: RetentionPlan, out: RetentionResult) -> None:
    if plan.events is EventsMechanism.DROP_PARTITIONS:
        rows = await db.fetch("SELECT * FROM telecare_drop_event_partitions(%s) AS name", (plan.events_horizon,))
        out.dropped_partitions = [r["name"] for r in rows]
        return
    # Code-reviewed path (no TimescaleDB here): a refused policy (licence, privileges) degrades to drop_chunks.
    if plan.events is EventsMechanism.TIMESCALE_POLICY:
        if not plan.set_policy:
            return
        try:
            async with db.transaction() as tx:
                await tx.execute("SELECT remove_retention_policy('events', if_exists => true)")
                await tx.execute("SELECT add_retention_policy('events', make_interval(days => %s))",
                                 (plan.events_days,))
            out.policy_set = True
            return
        except StoreError as err:
            out.notes.append(f"retention policy refused ({err}); dropping chunks instead")
            out.mechanism = EventsMechanism.DROP_CHUNKS
    rows = await db.fetch("SELECT drop_chunks('events', older_than => %s::timestamptz) AS chunk",
                          (plan.events_horizon,))
    out.dropped_chunks = len(rows)


async def enforce(db: Database, plan: RetentionPlan,
                  prune_dead_letters: Callable[[datetime], Awaitable[int]]) -> RetentionResult:
    """Apply the plan: events by its mechanism, dead letters by their owner, audit rows via the definer function."""
    out = RetentionResult(plan.events)
    await _events(db, plan, out)
    out.dead_letters = await prune_dead_letters(plan.dead_letters_before)
    # The audit log is append-only for the application; this SECURITY DEFINER function is the one exception.
    # It clamps `now` to the server's clock, so a wrong clock here can never purge recent rows.
    out.audit_rows = int(await db.fetchval("SELECT telecare_purge_audit(%s, %s)",
                                           (plan.audit_keep_days, plan.now)) or 0)
    log.info("retention: %s, %d partitions, %d chunks, %d dead letters, %d audit rows", out.mechanism.value,
             len(out.dropped_partitions), out.dropped_chunks, out.dead_letters, out.audit_rows)
    return out
