"""The visits and resident_notes tables' one writer (reads of them for the timeline: dashboards.resident_timeline)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from telecare.errors import InvalidInput, NotFound
from telecare.store import Database, Tx

from carerecord.model import NewVisit, Note, Visit, VisitOutcome, VisitPurpose

log = logging.getLogger(__name__)

MAX_FUTURE = timedelta(minutes=10)  # a visit is recorded after it happened (a little clock skew allowed)
MAX_PAST = timedelta(days=31)  # recorded late, but not a year later by mistake


def _visit(r: dict[str, Any]) -> Visit:
    return Visit(int(r["id"]), r["resident_id"], r["at"], r["visitor"], VisitPurpose(r["purpose"]),
                 VisitOutcome(r["outcome"]), r["note"], r["recorded_by"], r["organisation"], r["recorded_at"])


def _note(r: dict[str, Any]) -> Note:
    return Note(int(r["id"]), r["resident_id"], r["at"], r["author"], r["organisation"], r["text"])


async def _known(tx: Tx, resident_id: str) -> None:
    if not await tx.fetchval("SELECT EXISTS (SELECT 1 FROM residents WHERE id = %s)", (resident_id,)):
        raise NotFound(f"resident {resident_id} is not registered")


class CareRecord:
    """Adds visits and notes; the actor and organisation come from the signed-in user, never the body."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_visit(self, visit: NewVisit, recorded_by: str, organisation: str, now: datetime) -> Visit:
        """Store a visit (InvalidInput for a time in the future or more than a month ago)."""
        if visit.at > now + MAX_FUTURE:
            raise InvalidInput("a visit is recorded after it happened: its time is in the future")
        if visit.at < now - MAX_PAST:
            raise InvalidInput("a visit more than 31 days ago cannot be recorded here")
        async with self._db.transaction() as tx:
            await _known(tx, visit.resident_id)
            row = await tx.fetchrow(
                """INSERT INTO visits (resident_id, at, visitor, purpose, outcome, note, recorded_by, organisation,
                                       recorded_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
                (visit.resident_id, visit.at, visit.visitor, visit.purpose.value, visit.outcome.value, visit.note,
                 recorded_by, organisation, now))
        log.info("visit %s recorded for resident %s", row["id"], visit.resident_id)
        return _visit(row)

    async def add_note(self, resident_id: str, text: str, author: str, organisation: str, now: datetime) -> Note:
        """Store a note on the resident's shared record."""
        async with self._db.transaction() as tx:
            await _known(tx, resident_id)
            row = await tx.fetchrow(
                """INSERT INTO resident_notes (resident_id, at, author, organisation, text)
                   VALUES (%s, %s, %s, %s, %s) RETURNING *""", (resident_id, now, author, organisation, text))
        return _note(row)

    async def visits(self, resident_id: str, limit: int = 50) -> list[Visit]:
        """The resident's visits, newest first."""
        rows = await self._db.fetch("SELECT * FROM visits WHERE resident_id = %s ORDER BY at DESC, id DESC LIMIT %s",
                                    (resident_id, limit))
        return [_visit(r) for r in rows]

    async def notes(self, resident_id: str, limit: int = 50) -> list[Note]:
        """The resident's notes, newest first."""
        rows = await self._db.fetch(
            "SELECT * FROM resident_notes WHERE resident_id = %s ORDER BY at DESC, id DESC LIMIT %s",
            (resident_id, limit))
        return [_note(r) for r in rows]


async def erase_resident(tx: Tx, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """GDPR erasure: notes deleted; visits kept (care records under legal retention) without their note."""
    notes = await tx.execute("DELETE FROM resident_notes WHERE resident_id = %s", (resident_id,))
    kept = await tx.fetch("UPDATE visits SET note = '' WHERE resident_id = %s RETURNING id", (resident_id,))
    return [("resident_notes", "deleted", notes, []), ("visits", "kept", len(kept), [str(r["id"]) for r in kept])]
