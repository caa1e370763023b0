"""The call_log table's one writer: one row per call attempt, its updates, queries and CSV export."""
from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from outreach.call_records import CallFilter, CallRecord, csv_text  # noqa: F401 - CallFilter re-exported
from outreach.call_vocabulary import NOT_DONE_REASON, CallMode, CallOutcome, CallPurpose
from telecare.errors import InvalidInput, NotFound
from telecare.store import Database

LEFT_OPEN_NOTE = "the platform stopped during this call; it was closed at the next start"


_COLUMNS = ", ".join(f.name for f in fields(CallRecord))


def _record(row: dict[str, Any] | None) -> CallRecord | None:
    return CallRecord(**row) if row else None


class CallLog:
    """Writes and reads call_log. Every update is guarded so a late or repeated provider update changes nothing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start_attempt(self, *, resident_id: str, purpose: CallPurpose, caller: str, mode: CallMode, phone: str,
                            started_at: datetime, attempt: int = 1, task_id: int | None = None,
                            campaign_id: int | None = None, alert_id: int | None = None,
                            urgent: bool = False) -> int:
        """Open a row for an attempt about to be dialled; return its id (the call_ref)."""
        _purpose(purpose)
        return await self._db.fetchval(
            """INSERT INTO call_log (task_id, resident_id, purpose, campaign_id, alert_id, caller, mode, phone,
                                     attempt, started_at, urgent)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (task_id, resident_id, purpose, campaign_id, alert_id, caller, mode, phone, attempt, started_at, urgent))

    async def set_provider_id(self, call_id: int, provider_call_id: str) -> None:
        """Remember the provider's id for the attempt."""
        await self._db.execute("UPDATE call_log SET provider_call_id = %s WHERE id = %s", (provider_call_id, call_id))

    async def answered(self, call_id: int, at: datetime) -> None:
        """First answer time (later duplicates keep the first)."""
        await self._db.execute("UPDATE call_log SET answered_at = %s WHERE id = %s AND answered_at IS NULL",
                               (at, call_id))

    async def digits(self, call_id: int, digits: str) -> None:
        """Append pressed keys."""
        await self._db.execute("UPDATE call_log SET digits = COALESCE(digits, '') || %s WHERE id = %s",
                               (digits, call_id))

    async def finish(self, call_id: int, outcome: CallOutcome, at: datetime, note: str | None = None) -> CallRecord | None:
        """Close an open attempt with an outcome; None when it was already closed (the first close wins)."""
        return _record(await self._db.fetchrow(
            f"""UPDATE call_log SET ended_at = %s, outcome = %s, not_done_reason = %s, note = COALESCE(%s, note)
                WHERE id = %s AND ended_at IS NULL RETURNING {_COLUMNS}""",
            (at, _checked(outcome), NOT_DONE_REASON.get(outcome), note, call_id)))

    async def line_ended(self, call_id: int, at: datetime) -> None:
        """A person's call hung up: note the end time; the outcome is theirs to record."""
        await self._db.execute("UPDATE call_log SET ended_at = %s WHERE id = %s AND ended_at IS NULL", (at, call_id))

    async def record_outcome(self, call_id: int, outcome: CallOutcome, note: str, at: datetime) -> CallRecord:
        """A person's one-tap outcome for a call: sets outcome and note even if the line already hung up."""
        row = await self._db.fetchrow(
            f"""UPDATE call_log SET outcome = %s, not_done_reason = %s, note = %s, ended_at = COALESCE(ended_at, %s)
                WHERE id = %s RETURNING {_COLUMNS}""",
            (_checked(outcome), NOT_DONE_REASON.get(outcome), note, at, call_id))
        if row is None:
            raise NotFound(f"call {call_id} does not exist")
        return CallRecord(**row)

    async def get(self, call_id: int) -> CallRecord:
        """One attempt by id."""
        record = _record(await self._db.fetchrow(f"SELECT {_COLUMNS} FROM call_log WHERE id = %s", (call_id,)))
        if record is None:
            raise NotFound(f"call {call_id} does not exist")
        return record

    async def attempt_outcomes(self, task_id: int, attempt: int) -> list[CallOutcome]:
        """Outcomes of every phone tried in one attempt of a task."""
        rows = await self._db.fetch("SELECT outcome FROM call_log WHERE task_id = %s AND attempt = %s AND "
                                    "outcome IS NOT NULL", (task_id, attempt))
        return [CallOutcome(r["outcome"]) for r in rows]

    async def open_before(self, cutoff: datetime, limit: int = 500) -> list[CallRecord]:
        """Attempts still without a final status that started before `cutoff` (candidates for closing as failed)."""
        rows = await self._db.fetch(
            f"""SELECT {_COLUMNS} FROM call_log WHERE ended_at IS NULL AND mode = 'automated' AND started_at < %s
                ORDER BY started_at LIMIT %s""", (cutoff, limit))
        return [CallRecord(**r) for r in rows]

    async def close_left_open(self, started_before: datetime, at: datetime) -> list[CallRecord]:
        """At start: end the provider calls a previous run left open (its phone network forgot them); return them.

        Automated attempts become `failed` (system-error); a person's call only gets its end time, so the
        caller still records what was said. A person dialling from their own phone (no provider id) is left alone.
        """
        rows = await self._db.fetch(
            f"""UPDATE call_log
                SET ended_at = %(at)s,
                    outcome = CASE WHEN mode = 'automated' THEN 'failed' ELSE outcome END,
                    not_done_reason = CASE WHEN mode = 'automated' THEN %(reason)s ELSE not_done_reason END,
                    note = COALESCE(note || ' ', '') || %(note)s
                WHERE ended_at IS NULL AND started_at < %(before)s
                  AND (mode = 'automated' OR provider_call_id IS NOT NULL)
                RETURNING {_COLUMNS}""",
            {"at": at, "before": started_before, "reason": NOT_DONE_REASON[CallOutcome.FAILED], "note": LEFT_OPEN_NOTE})
        return [CallRecord(**r) for r in rows]

    async def query(self, f: CallFilter) -> list[CallRecord]:
        """Attempts matching the filter, newest first."""
        return [record for record, _ in await self._query(f, with_names=False)]

    async def query_named(self, f: CallFilter) -> list[tuple[CallRecord, str | None]]:
        """Attempts matching the filter with each resident's name (personal data: the caller audits the read)."""
        return await self._query(f, with_names=True)

    async def _query(self, f: CallFilter, *, with_names: bool) -> list[tuple[CallRecord, str | None]]:
        if f.purpose is not None:
            _purpose(f.purpose)
        # The name is joined only when asked for, so an unaudited read never fetches it.
        name = "(SELECT r.name FROM residents r WHERE r.id = call_log.resident_id)" if with_names else "NULL::text"
        rows = await self._db.fetch(
            f"""SELECT {_COLUMNS}, {name} AS resident_name FROM call_log
                WHERE (%(resident)s::text IS NULL OR resident_id = %(resident)s)
                  AND (%(start)s::timestamptz IS NULL OR started_at >= %(start)s)
                  AND (%(end)s::timestamptz IS NULL OR started_at < %(end)s)
                  AND (%(purpose)s::text IS NULL OR purpose = %(purpose)s)
                  AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)
                  AND (%(campaign)s::bigint IS NULL OR campaign_id = %(campaign)s)
                  AND (%(teams)s::jsonb IS NULL OR resident_id IN (
                        SELECT id FROM residents WHERE care_plan->>'team' IN (SELECT jsonb_array_elements_text(%(teams)s))))
                ORDER BY started_at DESC, id DESC LIMIT %(limit)s""",
            {"resident": f.resident_id, "start": f.start, "end": f.end, "purpose": f.purpose,
             "outcome": f.outcome, "campaign": f.campaign_id, "limit": max(1, min(f.limit, 100_000)),
             "teams": list(f.teams) if f.teams is not None else None})
        out = []
        for r in rows:
            resident_name = r.pop("resident_name")
            out.append((CallRecord(**r), resident_name))
        return out

    async def csv(self, f: CallFilter) -> str:
        """The filtered call log as CSV (one header row, ISO times), without names."""
        return csv_text(await self._query(f, with_names=False), with_names=False)


def _checked(outcome: str) -> CallOutcome:
    try:
        return CallOutcome(outcome)
    except ValueError:
        raise InvalidInput(f"unknown call outcome {outcome!r}") from None


def _purpose(purpose: str) -> CallPurpose:
    try:
        return CallPurpose(purpose)
    except ValueError:
        raise InvalidInput(f"unknown call purpose {purpose!r}") from None


async def erase_resident(tx: Any, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """GDPR erasure: call records are kept (legal retention) without their notes and the number dialled."""
    rows = await tx.fetch("UPDATE call_log SET note = NULL, phone = '[erased]' WHERE resident_id = %s RETURNING id",
                          (resident_id,))
    return [("call_log", "kept", len(rows), [str(r["id"]) for r in rows])]
