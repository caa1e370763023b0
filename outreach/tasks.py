"""The call_tasks and campaigns tables' one writer: planned calls, claims, retries, campaigns, callbacks."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from carerecord.model import CONTACT_OUTCOMES
from outreach.call_vocabulary import CallMode, CallOutcome, CallPurpose
from outreach.planning import PlannedCall, next_calling_window
from outreach.task_records import (
    OPEN_STATUSES, SUCCESSFUL_OUTCOMES, WELFARE_ON_UNREACHED, CallTask, Campaign, NewCampaign, TaskAfterAttempt,
    TaskStatus, decide_after_attempt,
)
from telecare.errors import ConflictError, NotFound
from telecare.metrics import OUTREACH_TASK_OUTCOMES, OUTREACH_TASKS_CREATED
from telecare.people import Resident
from telecare.store import Database, Tx

log = logging.getLogger(__name__)

_TASK_COLS = ("id, resident_id, purpose, mode, campaign_id, alert_id, due_date, not_before, not_after, "
              "priority, assigned_to, status, attempts, max_attempts, next_attempt_at, reason, dedupe_key, "
              "created_at, updated_at")
# Plans travel as one jsonb array (the pool adapts lists to jsonb), expanded server-side: one round trip.
_INSERT_PLANS = """
INSERT INTO call_tasks (resident_id, purpose, mode, campaign_id, due_date, not_before, not_after, priority,
                        assigned_to, max_attempts, next_attempt_at, reason, dedupe_key, created_at, updated_at)
SELECT t.resident_id, t.purpose, t.mode, t.campaign_id, t.due_date, t.not_before, t.not_after, t.priority,
       t.assigned_to, t.max_attempts, t.not_before, t.reason, t.dedupe_key, %(now)s, %(now)s
FROM jsonb_to_recordset(%(rows)s) AS t(resident_id text, purpose text, mode text, campaign_id bigint, due_date date,
     not_before timestamptz, not_after timestamptz, priority int, assigned_to text, max_attempts int, reason text,
     dedupe_key text)
ON CONFLICT (dedupe_key) DO NOTHING RETURNING purpose"""


async def _insert(tx: Tx, rows: list[dict[str, Any]], now: datetime) -> int:
    """Insert task rows, skipping known keys; count the new ones per purpose."""
    if not rows:
        return 0
    created = await tx.fetch(_INSERT_PLANS, {"rows": rows, "now": now})
    for purpose, n in Counter(r["purpose"] for r in created).items():
        OUTREACH_TASKS_CREATED.labels(purpose).inc(n)
    return len(created)


def _plan_row(p: PlannedCall, campaign_id: int | None = None, key: str | None = None) -> dict[str, Any]:
    return {"resident_id": p.resident_id, "purpose": p.purpose, "mode": p.mode,
            "campaign_id": campaign_id if campaign_id is not None else p.campaign_id,
            "due_date": p.due_date.isoformat(), "not_before": p.not_before.isoformat(),
            "not_after": p.not_after.isoformat(), "priority": p.priority, "assigned_to": p.assigned_to,
            "max_attempts": p.max_attempts, "reason": p.reason, "dedupe_key": key or p.dedupe_key}


class TaskStore:
    """Call tasks and campaigns in PostgreSQL. Every status change is a guarded UPDATE (no double dial)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_plans(self, plans: Sequence[PlannedCall], now: datetime) -> int:
        """Insert planned calls; keys already present are skipped. Returns how many were new."""
        if not plans:
            return 0
        async with self._db.transaction() as tx:
            return await _insert(tx, [_plan_row(p) for p in plans], now)

    async def known_keys(self, since: date) -> set[str]:
        """Dedupe keys of tasks due since a date (planning skips them before touching the database)."""
        rows = await self._db.fetch("SELECT dedupe_key FROM call_tasks WHERE due_date >= %s", (since,))
        return {r["dedupe_key"] for r in rows}

    async def get(self, task_id: int) -> CallTask:
        row = await self._db.fetchrow(f"SELECT {_TASK_COLS} FROM call_tasks WHERE id = %s", (task_id,))
        if row is None:
            raise NotFound(f"call task {task_id} does not exist")
        return CallTask.from_row(row)

    async def due_automated(self, now: datetime, limit: int = 100) -> list[CallTask]:
        """Automated tasks whose next attempt is due and whose window is open, most urgent first."""
        rows = await self._db.fetch(
            f"""SELECT {_TASK_COLS} FROM call_tasks
                WHERE status = 'pending' AND mode = 'automated' AND next_attempt_at <= %s AND not_after > %s
                ORDER BY priority, next_attempt_at, id LIMIT %s""", (now, now, limit))
        return [CallTask.from_row(r) for r in rows]

    async def worklist(self, assignee: str | None, day: date, now: datetime) -> list[CallTask]:
        """Human calls due by `day` for a caller or team (None: everyone): callable now first, then risk, window."""
        rows = await self._db.fetch(
            f"""SELECT {_TASK_COLS} FROM call_tasks
                WHERE mode = 'human' AND status IN ('pending', 'dialing') AND due_date <= %(day)s
                  AND (%(who)s::text IS NULL OR assigned_to = %(who)s)
                ORDER BY next_attempt_at > %(now)s, priority, not_before, id""",
            {"day": day, "who": assignee, "now": now})
        return [CallTask.from_row(r) for r in rows]

    async def claim(self, task_id: int, now: datetime) -> CallTask | None:
        """pending -> dialing; None if someone else claimed it first (or it is not pending)."""
        row = await self._db.fetchrow(
            f"""UPDATE call_tasks SET status = 'dialing', updated_at = %s
                WHERE id = %s AND status = 'pending' RETURNING {_TASK_COLS}""", (now, task_id))
        return CallTask.from_row(row) if row else None

    async def record_attempt(self, task_id: int, outcome: CallOutcome, now: datetime,
                             resident: Resident | None) -> TaskAfterAttempt:
        """Count one attempt: done, retry later within calling hours, or unreached (-> welfare check)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(f"SELECT {_TASK_COLS} FROM call_tasks WHERE id = %s FOR UPDATE", (task_id,))
            if row is None:
                raise NotFound(f"call task {task_id} does not exist")
            task = CallTask.from_row(row)
            if task.status not in OPEN_STATUSES:
                raise ConflictError(f"call task {task_id} is already {task.status}")
            decision = decide_after_attempt(task, outcome, now, resident)
            welfare = decision.status == TaskStatus.UNREACHED and task.purpose in WELFARE_ON_UNREACHED
            row = await tx.fetchrow(
                f"""UPDATE call_tasks SET status = %s, attempts = attempts + 1, next_attempt_at = %s,
                           not_before = %s, not_after = %s, updated_at = %s,
                           welfare_due_at = CASE WHEN %s THEN %s ELSE welfare_due_at END
                    WHERE id = %s RETURNING {_TASK_COLS}""",
                (decision.status, decision.next_attempt_at, decision.not_before, decision.not_after, now,
                 welfare, now, task_id))
        after = CallTask.from_row(row)  # type: ignore[arg-type]
        OUTREACH_TASK_OUTCOMES.labels(after.purpose, after.status).inc()
        if welfare:
            log.info("call task %s unreached after %s attempts: welfare check needed", after.id, after.attempts)
        return TaskAfterAttempt(after, after.status == TaskStatus.DONE,
                                after.next_attempt_at if after.status == TaskStatus.PENDING else None, welfare)

    async def welfare_owed(self, due_before: datetime, limit: int = 100) -> list[CallTask]:
        """Tasks left unreached whose welfare_check alert was owed before `due_before` and not raised yet."""
        rows = await self._db.fetch(
            f"""SELECT {_TASK_COLS} FROM call_tasks WHERE welfare_due_at IS NOT NULL AND welfare_due_at < %s
                ORDER BY welfare_due_at LIMIT %s""", (due_before, limit))
        return [CallTask.from_row(r) for r in rows]

    async def welfare_raised(self, task_id: int) -> None:
        """The alert sink took the task's welfare_check raise: nothing is owed any more."""
        await self._db.execute("UPDATE call_tasks SET welfare_due_at = NULL WHERE id = %s", (task_id,))

    async def create_callback(self, resident_id: str, reason: str, now: datetime, *,
                              resident: Resident | None = None, purpose: CallPurpose = CallPurpose.FOLLOW_UP,
                              campaign_id: int | None = None, source_task_id: int | None = None,
                              assigned_to: str | None = None, priority: int = 10) -> CallTask:
        """A human call back (e.g. the resident pressed 2); one per source task."""
        if resident is not None:  # the resident asked for it: calling hours yes, quiet days no
            window = next_calling_window(resident, now, ignore_quiet_days=True)
            start, end, day = max(window.start, now), window.end, window.day
            assigned_to = assigned_to or resident.care_plan.named_caller or resident.care_plan.team
        else:
            start, end, day = now, now + timedelta(hours=12), now.date()
        key = f"callback:task:{source_task_id}" if source_task_id else f"callback:{resident_id}:{now.isoformat()}"
        plan = PlannedCall(resident_id, purpose, CallMode.HUMAN, day, start, end, priority, assigned_to, key, reason,
                           campaign_id)
        await self.save_plans([plan], now)
        row = await self._db.fetchrow(f"SELECT {_TASK_COLS} FROM call_tasks WHERE dedupe_key = %s", (key,))
        return CallTask.from_row(row)  # type: ignore[arg-type]

    async def roll_over(self, residents: Mapping[str, Resident], now: datetime,
                        stale_dialing: timedelta = timedelta(minutes=15)) -> int:
        """Move pending tasks whose window ended unattempted to the next window; free dials stuck by a crash."""
        async with self._db.transaction() as tx:
            await tx.execute("""UPDATE call_tasks SET status = 'pending', updated_at = %s
                                WHERE status = 'dialing' AND updated_at < %s""", (now, now - stale_dialing))
            rows = await tx.fetch("""SELECT id, resident_id, purpose FROM call_tasks
                                     WHERE status = 'pending' AND not_after <= %s FOR UPDATE""", (now,))
            moved = []
            for r in rows:
                resident = residents.get(r["resident_id"])
                if resident is not None:
                    w = next_calling_window(resident, now, ignore_quiet_days=r["purpose"] == CallPurpose.WEATHER)
                    moved.append({"id": r["id"], "nb": w.start.isoformat(), "na": w.end.isoformat()})
            if moved:
                await tx.execute(
                    """UPDATE call_tasks c SET not_before = m.nb, not_after = m.na, next_attempt_at = m.nb,
                              updated_at = %s
                       FROM jsonb_to_recordset(%s) AS m(id bigint, nb timestamptz, na timestamptz)
                       WHERE c.id = m.id""", (now, moved))
        return len(moved)

    async def last_successful_contact(self, resident_ids: Iterable[str] | None = None) -> dict[str, datetime]:
        """Latest contact per resident: a reached call of any purpose (call_log, which the dialer writes) or a
        home visit that saw them (visits, written by carerecord): either starts the follow-up cadence again."""
        ids = None if resident_ids is None else list(resident_ids)
        rows = await self._db.fetch(
            """SELECT resident_id, max(at) AS at FROM (
                   SELECT resident_id, COALESCE(answered_at, started_at) AS at FROM call_log
                   WHERE outcome IN (SELECT jsonb_array_elements_text(%(calls)s))
                   UNION ALL
                   SELECT resident_id, at FROM visits
                   WHERE outcome IN (SELECT jsonb_array_elements_text(%(visits)s))) AS contact
               WHERE (%(ids)s::jsonb IS NULL OR resident_id IN (SELECT jsonb_array_elements_text(%(ids)s)))
               GROUP BY resident_id""",
            {"calls": sorted(SUCCESSFUL_OUTCOMES), "visits": sorted(CONTACT_OUTCOMES), "ids": ids})
        return {r["resident_id"]: r["at"] for r in rows}

    async def last_unreached_follow_up(self) -> dict[str, datetime]:
        """When each resident's latest planned follow-up ended unreached (planning retries those later)."""
        rows = await self._db.fetch(
            """SELECT resident_id, max(updated_at) AS at FROM call_tasks
               WHERE status = 'unreached' AND dedupe_key LIKE 'follow\\_up:%%' GROUP BY resident_id""")
        return {r["resident_id"]: r["at"] for r in rows}

    # ---- campaigns -------------------------------------------------------------------------------------------
    async def create_campaign(self, spec: NewCampaign, plans: Sequence[PlannedCall],
                              now: datetime) -> tuple[Campaign, bool, int]:
        """One transaction: the campaign and its tasks. Same source_id again: (existing, False, 0)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                """INSERT INTO campaigns (kind, title, message, mode, source_id, event, severity, urgency, onset,
                                         expires, area, audience, created_by, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (source_id) DO NOTHING RETURNING *""",
                (spec.kind, spec.title, spec.message, spec.mode, spec.source_id, spec.event, spec.severity,
                 spec.urgency, spec.onset, spec.expires, spec.area, spec.audience, spec.created_by, now))
            if row is None:
                existing = await tx.fetchrow("SELECT * FROM campaigns WHERE source_id = %s", (spec.source_id,))
                return Campaign.from_row(existing), False, 0  # type: ignore[arg-type]
            campaign = Campaign.from_row(row)
            rows = [_plan_row(p, campaign.id, f"campaign:{campaign.id}:{p.resident_id}") for p in plans]
            created = await _insert(tx, rows, now)
        return campaign, True, created

    async def cancel_campaign(self, source_id: str, now: datetime) -> int | None:
        """Cancel a campaign (CAP Cancel) and its calls not yet made; None if there is no such campaign."""
        async with self._db.transaction() as tx:
            cid = await tx.fetchval("UPDATE campaigns SET status = 'cancelled' WHERE source_id = %s RETURNING id",
                                    (source_id,))
            if cid is None:
                return None
            await tx.execute("""UPDATE call_tasks SET status = 'cancelled', updated_at = %s
                                WHERE campaign_id = %s AND status = 'pending'""", (now, cid))
        return cid

    async def residents_in_campaigns(self, source_ids: Sequence[str]) -> set[str]:
        """Residents with a live or finished (not cancelled) call in the campaigns of these CAP identifiers."""
        rows = await self._db.fetch(
            """SELECT DISTINCT t.resident_id FROM call_tasks t JOIN campaigns c ON c.id = t.campaign_id
               WHERE c.source_id IN (SELECT jsonb_array_elements_text(%s)) AND t.status <> 'cancelled'""",
            (list(source_ids),))
        return {r["resident_id"] for r in rows}

    async def get_campaign(self, campaign_id: int) -> Campaign:
        row = await self._db.fetchrow("SELECT * FROM campaigns WHERE id = %s", (campaign_id,))
        if row is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        return Campaign.from_row(row)

    async def list_campaigns(self, limit: int = 50) -> list[Campaign]:
        rows = await self._db.fetch("SELECT * FROM campaigns ORDER BY created_at DESC, id DESC LIMIT %s", (limit,))
        return [Campaign.from_row(r) for r in rows]

    async def campaign_progress(self, campaign_id: int) -> dict[str, int]:
        """done (answered + unreached + cancelled), answered, unreached, pending (incl. dialing), total."""
        row = await self._db.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'done') AS answered,
                      count(*) FILTER (WHERE status = 'unreached') AS unreached,
                      count(*) FILTER (WHERE status IN ('pending', 'dialing')) AS pending,
                      count(*) AS total FROM call_tasks WHERE campaign_id = %s""", (campaign_id,))
        assert row is not None
        out = {k: int(v) for k, v in row.items()}
        return {"done": out["total"] - out["pending"], **out}

    async def campaign_waiting(self, campaign_id: int, now: datetime) -> tuple[int, datetime | None]:
        """Pending calls of a campaign that cannot be made yet (calling hours, retry) and when the first can."""
        row = await self._db.fetchrow(
            """SELECT count(*) AS n, min(next_attempt_at) AS first FROM call_tasks
               WHERE campaign_id = %s AND status = 'pending' AND next_attempt_at > %s""", (campaign_id, now))
        assert row is not None
        return int(row["n"]), row["first"]


async def erase_resident(tx: Tx, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """GDPR erasure: delete planned calls no call record points at; keep the rest cancelled, without reasons."""
    gone = await tx.execute("DELETE FROM call_tasks t WHERE resident_id = %s AND NOT EXISTS "
                            "(SELECT 1 FROM call_log l WHERE l.task_id = t.id)", (resident_id,))
    rows = await tx.fetch(
        """UPDATE call_tasks SET reason = '', updated_at = %(now)s,
                  status = CASE WHEN status IN ('pending', 'dialing') THEN 'cancelled' ELSE status END
           WHERE resident_id = %(r)s RETURNING id""", {"r": resident_id, "now": now})
    return [("call_tasks", "deleted", gone, []), ("call_tasks", "kept", len(rows), [str(r["id"]) for r in rows])]
