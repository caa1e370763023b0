"""Breach-response aid: from audit_log, which residents' data each user or token read in a time window."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from telecare.errors import InvalidInput
from telecare.store import Database

# Reads of personal data: every audited read, reveal and export (changes are not disclosures).
READ_ACTIONS = r"(\.read|\.reveal|\.export)$"
_RELATIVE = re.compile(r"^(\d{1,5})([hd])$")


def parse_time(text: str, now: datetime) -> datetime:
    """ISO 8601 date or time (UTC when no offset is given), or a span back from now like 72h or 30d."""
    text = text.strip()
    if m := _RELATIVE.match(text):
        n, unit = int(m.group(1)), m.group(2)
        return now - (timedelta(hours=n) if unit == "h" else timedelta(days=n))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"unreadable time {text[:40]!r}: use ISO 8601 (2026-05-01T08:00+02:00) or 72h / 30d") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class ReadSummary:
    """One actor's reads of one resident's data in the window."""

    actor: str
    resident_id: str
    reads: int
    actions: tuple[str, ...]
    first_at: datetime
    last_at: datetime


async def reads(db: Database, since: datetime, until: datetime) -> list[ReadSummary]:
    """Per actor (a user, or a token's owner as audited) and resident: how often, which reads, first and last."""
    if until <= since:
        raise InvalidInput("--until must be after --since")
    rows = await db.fetch(
        # One audit row may name several residents (a queue, a call-log page): count it for each of them.
        # Denied attempts read nothing, so only allowed rows count.
        """SELECT actor, resident AS subject, count(*) AS n, array_agg(DISTINCT action ORDER BY action) AS actions,
                  min(at) AS first_at, max(at) AS last_at
           FROM audit_log CROSS JOIN LATERAL unnest(residents) AS resident
           WHERE at >= %s AND at < %s AND action ~ %s AND outcome = 'allowed'
           GROUP BY actor, resident ORDER BY actor, resident""", (since, until, READ_ACTIONS))
    return [ReadSummary(r["actor"], r["subject"], int(r["n"]), tuple(r["actions"]), r["first_at"], r["last_at"])
            for r in rows]


def as_csv(items: list[ReadSummary]) -> str:
    """actor,resident_id,reads,actions,first_at,last_at (ids only: the names stay in the database)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["actor", "resident_id", "reads", "actions", "first_at", "last_at"])
    for s in items:
        actor = "'" + s.actor if s.actor[:1] in "=+-@" else s.actor
        w.writerow([actor, s.resident_id, s.reads, " ".join(s.actions), s.first_at.isoformat(), s.last_at.isoformat()])
    return out.getvalue()


def as_table(items: list[ReadSummary], since: datetime, until: datetime) -> str:
    """A readable report grouped by actor, with the residents each one read."""
    head = f"Reads of residents' personal data from {since.isoformat()} to {until.isoformat()}"
    if not items:
        return head + "\n  no reads recorded"
    lines = [head]
    actors = sorted({s.actor for s in items})
    for actor in actors:
        mine = [s for s in items if s.actor == actor]
        lines.append(f"\n{actor}: {len(mine)} resident(s), {sum(s.reads for s in mine)} read(s)")
        lines.append(f"  {'resident':<16} {'reads':>5}  {'first':<25} {'last':<25} actions")
        for s in mine:
            lines.append(f"  {s.resident_id:<16} {s.reads:>5}  {s.first_at.isoformat():<25} "
                         f"{s.last_at.isoformat():<25} {', '.join(s.actions)}")
    residents = {s.resident_id for s in items}
    lines.append(f"\n{len(actors)} actor(s) read the data of {len(residents)} resident(s)")
    return "\n".join(lines)
