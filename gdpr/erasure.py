"""Right to erasure: each owning store erases its own tables in one transaction; gdpr records what was kept and why.

A dry run performs the very same erasure and rolls it back, so its counts are exact and nothing changes.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from gdpr.catalog import KEPT_REASONS, KeptReason
from gdpr.ports import AuditAppend, DataKind, Eraser, GdprAction
from telecare.clock import Clock
from telecare.errors import NotFound
from telecare.store import Database, Tx

log = logging.getLogger(__name__)


ERASE_ORDER = tuple(DataKind)


class Action(StrEnum):
    DELETED = "deleted"
    PSEUDONYMISED = "pseudonymised"
    KEPT = "kept"


@dataclass(frozen=True, slots=True)
class TableOutcome:
    """What happened to one table's rows."""

    table: str
    action: Action
    count: int
    row_ids: tuple[str, ...] = ()

    @property
    def reason(self) -> KeptReason | None:
        return KEPT_REASONS.get(self.table) if self.action is not Action.DELETED else None


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """The outcome (or, for a dry run, the plan) of erasing one resident."""

    resident_id: str
    at: datetime
    dry_run: bool
    outcomes: tuple[TableOutcome, ...]

    def totals(self) -> dict[tuple[str, Action], int]:
        """Row counts per (table, action), tables with nothing to do left out."""
        out: dict[tuple[str, Action], int] = {}
        for o in self.outcomes:
            if o.count:
                out[(o.table, o.action)] = out.get((o.table, o.action), 0) + o.count
        return out

    def text(self) -> str:
        """The report for people: what goes, what stays and why."""
        verb = {Action.DELETED: "would delete" if self.dry_run else "deleted",
                Action.PSEUDONYMISED: "would pseudonymise" if self.dry_run else "pseudonymised",
                Action.KEPT: "would keep" if self.dry_run else "kept"}
        lines = [f"{'DRY RUN: nothing changed. ' if self.dry_run else ''}erasure of resident {self.resident_id}"]
        for (table, action), n in sorted(self.totals().items(), key=lambda kv: (list(Action).index(kv[0][1]), kv[0][0])):
            reason = KEPT_REASONS.get(table) if action is not Action.DELETED else None
            lines.append(f"  {verb[action]:<19} {n:>7}  {table}" + (f"  ({reason.value})" if reason else ""))
        if not self.totals():
            lines.append("  nothing held")
        return "\n".join(lines)

    def detail(self) -> dict[str, Any]:
        """Counts for the audit row (no personal data)."""
        return {"dry_run": self.dry_run, "rows": {f"{t}.{a.value}": n for (t, a), n in self.totals().items()}}


class _DryRun(Exception):
    def __init__(self, report: ErasureReport) -> None:
        self.report = report


def outcomes_from(raw: Sequence[tuple[str, str, int, Sequence[str]]]) -> list[TableOutcome]:
    """An eraser's plain tuples as TableOutcome values (unknown actions are a programming error)."""
    return [TableOutcome(t, Action(a), int(n), tuple(str(i) for i in ids)) for t, a, n, ids in raw]


class Erasure:
    """Runs the registered erasers in ERASE_ORDER in one transaction, logs kept rows, audits the erasure."""

    def __init__(self, db: Database, erasers: Mapping[DataKind, Eraser], audit: AuditAppend, clock: Clock) -> None:
        missing = [k.value for k in DataKind if k not in erasers]
        if missing:  # a data kind without its eraser would leave personal data behind
            raise ValueError(f"no eraser registered for: {', '.join(missing)}")
        self._db, self._erasers, self._audit, self._clock = db, erasers, audit, clock

    async def run(self, resident_id: str, actor: Any, *, dry_run: bool = False) -> ErasureReport:
        """Erase (or plan to erase) one resident; NotFound when unknown."""
        now = self._clock.now()
        try:
            async with self._db.transaction() as tx:
                if not await tx.fetchval("SELECT id FROM residents WHERE id = %s FOR UPDATE", (resident_id,)):
                    raise NotFound(f"resident {resident_id} is not registered")
                outcomes: list[TableOutcome] = []
                for kind in ERASE_ORDER:
                    outcomes += outcomes_from(await self._erasers[kind](tx, resident_id, now))
                audit_ids = [str(r["id"]) for r in await tx.fetch(
                    "SELECT id FROM audit_log WHERE %s = ANY(residents) ORDER BY id", (resident_id,))]
                outcomes.append(TableOutcome("audit_log", Action.KEPT, len(audit_ids), tuple(audit_ids)))
                await _log_kept(tx, resident_id, outcomes, now)
                report = ErasureReport(resident_id, now, dry_run, tuple(outcomes))
                if dry_run:
                    raise _DryRun(report)  # leaves the transaction: everything above is rolled back
        except _DryRun as planned:
            return planned.report
        # After the commit: a failure here is loud (the CLI exits non-zero), never silent.
        await self._audit(actor, GdprAction.ERASE, resident_id, now, report.detail())
        log.info("resident %s erased (%d kept rows logged)", resident_id,
                 sum(o.count for o in report.outcomes if o.action is not Action.DELETED))
        return report


async def _log_kept(tx: Tx, resident_id: str, outcomes: Sequence[TableOutcome], now: datetime) -> None:
    """One erasure_log row per kept or pseudonymised row, with its reason (a repeated erasure refreshes them)."""
    rows = [{"t": o.table, "id": i, "why": o.reason.value} for o in outcomes if o.reason for i in o.row_ids]
    if rows:
        await tx.execute(
            """INSERT INTO erasure_log (resident_id, table_name, row_id, kept_reason, erased_at)
               SELECT %(rid)s, r->>'t', r->>'id', r->>'why', %(now)s FROM jsonb_array_elements(%(rows)s) AS r
               ON CONFLICT (table_name, row_id) DO UPDATE SET kept_reason = EXCLUDED.kept_reason,
                                                              erased_at = EXCLUDED.erased_at""",
            {"rid": resident_id, "now": now, "rows": rows})
