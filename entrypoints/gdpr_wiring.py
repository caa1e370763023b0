"""Composition of gdpr/: each owner's eraser registered per data kind, the audit append, the retention job."""
from __future__ import annotations

import getpass
import os
from datetime import datetime
from typing import Any

from gdpr.ports import AuditAppend, DataKind, Eraser, GdprAction
from gdpr.retention import RetentionPolicy, RetentionResult, decide, enforce
from gdpr.service import Gdpr
from telecare.clock import Clock
from telecare.settings import Settings
from telecare.store import Database
from telecare.store.migrate import features


def erasers() -> dict[DataKind, Eraser]:
    """The registration table: every data kind's owner erases its own tables."""
    from alerts.store import erase_resident as alerts
    from carerecord.store import erase_resident as care_record
    from devices.registry import erase_resident as registry
    from insights.rollups import erase_resident as insights
    from ingest.sink import erase_resident as events
    from outreach.call_log import erase_resident as calls
    from outreach.tasks import erase_resident as tasks
    from rules.state import erase_resident as rule_state

    return {DataKind.TASKS: tasks, DataKind.CALLS: calls, DataKind.ALERTS: alerts, DataKind.EVENTS: events,
            DataKind.RULE_STATE: rule_state, DataKind.INSIGHTS: insights, DataKind.CARE_RECORD: care_record,
            DataKind.REGISTRY: registry}


def audit_append(db: Database) -> AuditAppend:
    """dashboards/audit.py's AuditLog (the audit_log table's one writer) as gdpr's audit port."""
    from dashboards.audit import Actor, AuditLog

    audit = AuditLog(db)

    async def append(actor: Any, action: GdprAction, subject: str, at: datetime, detail: dict[str, Any]) -> int:
        # The web edge passes its authenticated Actor (name, kind, address, user agent); the CLI a name.
        who = actor if isinstance(actor, Actor) else Actor(str(actor), "system")
        return await audit.record(who, action, [subject], at, detail)  # type: ignore[arg-type] - a StrEnum too

    return append


def build_gdpr(db: Database, clock: Clock) -> Gdpr:
    """The GDPR capability for this process."""
    return Gdpr(db, erasers(), audit_append(db), clock)


def gdpr_router(db: Database, clock: Clock, settings: Settings) -> Any:
    """The GDPR routes (export, erasure, retention status), behind dashboards/policy.py."""
    from dashboards.routes.gdpr import router

    async def retention_status() -> dict[str, Any]:
        policy = RetentionPolicy.from_settings(settings)
        return {"days": {"events": policy.events_days, "dead_letters": policy.dead_letters_days,
                         "audit": policy.audit_days},
                "settings": {"events": "TELECARE_RETENTION_EVENTS_DAYS",
                             "dead_letters": "TELECARE_RETENTION_DEAD_LETTERS_DAYS",
                             "audit": "TELECARE_RETENTION_AUDIT_DAYS"},
                "enforced_by": "the maintenance job at every start and every 6 h",
                "features": (await features(db)).lines()}

    return router(build_gdpr(db, clock), retention_status)


def cli_actor() -> str:
    """Who runs a CLI command, for the audit log: cli:<os user>."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers): the numeric uid still names someone
        return f"cli:uid{os.getuid()}"


async def run_retention(db: Database, settings: Settings, now: datetime) -> RetentionResult:
    """One run of the retention job: the mechanism this database allows, each data kind's horizon."""
    from ingest.sink import EventSink

    plan = decide(await features(db), RetentionPolicy.from_settings(settings), now)
    return await enforce(db, plan, EventSink(db).prune_dead_letters_before)  # the sink keeps their counts
