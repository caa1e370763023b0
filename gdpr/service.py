"""The GDPR capability as the edges use it: export a resident's data, erase it, both audited."""
from __future__ import annotations

from typing import Any

import logging
from collections.abc import Mapping

from gdpr import archive, export_queries
from gdpr.erasure import Erasure, ErasureReport
from gdpr.ports import AuditAppend, DataKind, Eraser, GdprAction
from telecare.clock import Clock
from telecare.errors import NotFound
from telecare.store import Database

log = logging.getLogger(__name__)


class Gdpr:
    """Subject access and erasure over the stores' read-only queries and erasers (handed in by the root)."""

    def __init__(self, db: Database, erasers: Mapping[DataKind, Eraser], audit: AuditAppend, clock: Clock) -> None:
        self._db, self._audit, self._clock = db, audit, clock
        self._erasure = Erasure(db, erasers, audit, clock)

    async def export_zip(self, resident_id: str, actor: Any) -> bytes:
        """The subject access archive; the export is audited before any data leaves (a failed audit raises)."""
        now = self._clock.now()
        if not await export_queries.resident_exists(self._db, resident_id):
            raise NotFound(f"resident {resident_id} is not registered")
        await self._audit(actor, GdprAction.EXPORT, resident_id, now, {"format": "zip: json, csv, fhir-r4"})
        data = await export_queries.collect(self._db, resident_id, now)
        log.info("export of resident %s: %d sections", resident_id, len(data.sections))
        return archive.build_zip(data)

    async def erase(self, resident_id: str, actor: Any, *, dry_run: bool = False) -> ErasureReport:
        """Erase one resident (or, with dry_run, report what would go and what would stay)."""
        return await self._erasure.run(resident_id, actor, dry_run=dry_run)
