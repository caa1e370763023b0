"""A resident with something in every table that refers to them (and a neighbour who must stay untouched)."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from alerts.store import AlertStore
from dashboards.audit import Actor, AuditAction, AuditLog
from devices.registry import Registry
from ingest.sink import EventSink
from outreach import escalation_history
from outreach.escalation_steps import EscalationState
from telecare.alerts import AlertTrigger, AlertType, Outcome, Severity
from telecare.bus import InProcessBus
from telecare.events import DeviceType, Event, EventType, Rejected
from telecare.people import Contact, Device, Resident, RiskFlag
from telecare.store import Database

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
RID, OTHER = "r-gdpr-1", "r-gdpr-2"
NAME, ADDRESS, KEY_SAFE = "Montserrat Vilalta Oriol", "Carrer de Verdi 42, 08012 Barcelona", "4827"
PHONES = ("+34600111222", "+34933444555")
DAUGHTER = Contact("Nuria Puig Vilalta", "+34611222333", "daughter", 1, key_holder=True)
SON = Contact("Jordi Vilalta Puig", "+34622333444", "son", 2)
SECRETS = (NAME, ADDRESS, KEY_SAFE, *PHONES, DAUGHTER.name, DAUGHTER.phone, SON.name, SON.phone)


def resident() -> Resident:
    return Resident(RID, NAME, date_of_birth=date(1938, 3, 14), address=ADDRESS, latitude=41.40, longitude=2.16,
                    phones=PHONES, key_safe_code=KEY_SAFE, risk_flags=frozenset({RiskFlag.DEMENTIA, RiskFlag.LIVES_ALONE}),
                    contacts=(DAUGHTER, SON))


async def seed(db: Database) -> dict[str, int]:
    """Fill every resident-referencing table for RID; return a few ids the tests look at."""
    registry, bus = Registry(db), InProcessBus()
    await registry.write_batch(
        [resident(), Resident(OTHER, "Pere Soler Camps", phones=("+34699000111",), address="Carrer Gran 1")],
        [Device("gw-1", DeviceType.GATEWAY, "gw-1", RID), Device("p-1", DeviceType.PENDANT, "gw-1", RID),
         Device("gw-2", DeviceType.GATEWAY, "gw-2", OTHER)])
    events = [Event(uuid.uuid4(), "gw-1", "p-1", RID, EventType.MOTION if i else EventType.HELP_BUTTON,
                    T0 - timedelta(hours=i), T0 - timedelta(hours=i), f"m{i}", battery=80 if i == 1 else None,
                    value={"room": "hall"} if i == 2 else None) for i in range(3)]
    events.append(Event(uuid.uuid4(), "gw-2", "gw-2", OTHER, EventType.MOTION, T0, T0, "o1"))
    dead = [Rejected("telecare/v1/gw-1/p-1/event", b'{"bad": true}', "bad_json", T0, "gw-1", "p-1"),
            Rejected("telecare/v1/gw-2/gw-2/event", b"{}", "bad_json", T0, "gw-2", "gw-2")]
    await EventSink(db).store(events, dead)
    alerts = AlertStore(db, bus)
    help_alert = (await alerts.raise_or_attach(AlertTrigger(RID, AlertType.HELP_BUTTON, Severity.CRITICAL, T0,
                                                            "Help button pressed", "p-1"), T0)).alert
    await alerts.add_note(help_alert.id, "anna", f"{NAME.split()[0]} fell near the door at {ADDRESS}", T0)
    state = EscalationState(alert_id=help_alert.id, tier=3, next_at=T0, contact_index=0, state="calling",
                            updated_at=T0)
    line = escalation_history.step_line("call_key_holder", state, DAUGHTER)
    await escalation_history.append(db, help_alert.id, T0, line)
    fall = (await alerts.raise_or_attach(AlertTrigger(RID, AlertType.FALL, Severity.CRITICAL, T0, "Fall detected",
                                                      "p-1"), T0)).alert
    await alerts.resolve(fall.id, "anna", Outcome.RESOLVED_BY_PHONE, f"Called {DAUGHTER.name} on {DAUGHTER.phone}", T0)
    await db.execute("INSERT INTO escalations (alert_id, tier, next_at, state, updated_at) VALUES (%s, 3, %s, 'calling', %s)",
                     (help_alert.id, T0, T0))
    task_done = await db.fetchval(
        """INSERT INTO call_tasks (resident_id, purpose, mode, due_date, not_before, not_after, status, next_attempt_at,
                                   reason, dedupe_key, created_at, updated_at)
           VALUES (%s, 'follow_up', 'human', %s, %s, %s, 'unreached', %s, 'after the fall', 'fu:gdpr:1', %s, %s)
           RETURNING id""", (RID, T0.date(), T0, T0 + timedelta(hours=8), T0, T0, T0))
    await db.execute(
        """INSERT INTO call_tasks (resident_id, purpose, mode, due_date, not_before, not_after, next_attempt_at,
                                   reason, dedupe_key, created_at, updated_at)
           VALUES (%s, 'birthday', 'automated', %s, %s, %s, %s, 'birthday call', 'bd:gdpr:1', %s, %s)""",
        (RID, T0.date(), T0, T0 + timedelta(hours=8), T0, T0, T0))
    await db.execute(
        """INSERT INTO call_log (task_id, resident_id, purpose, caller, mode, phone, started_at, answered_at, ended_at,
                                 outcome, note) VALUES (NULL, %s, 'follow_up', 'Anna Serra', 'human', %s, %s, %s, %s,
                                 'fine', %s)""",
        (RID, PHONES[0], T0, T0 + timedelta(seconds=5), T0 + timedelta(minutes=3),
         f"She is fine; checked the key safe ({KEY_SAFE})"))
    await db.execute(
        """INSERT INTO call_log (task_id, resident_id, purpose, caller, mode, phone, started_at, ended_at, outcome,
                                 not_done_reason) VALUES (%s, %s, 'follow_up', 'automated', 'automated', %s, %s, %s,
                                 'no_answer', 'recipient-unavailable')""",
        (task_done, RID, DAUGHTER.phone, T0, T0 + timedelta(seconds=40)))
    await db.execute("INSERT INTO rule_state (resident_id, state, updated_at) VALUES (%s, %s, %s)",
                     (RID, {"timers": {}, "last_seen": T0.isoformat()}, T0))
    audit = AuditLog(db)
    await audit.record(Actor("anna", "session"), AuditAction.CARD_READ, [RID], T0)
    await audit.record(Actor("anna", "session"), AuditAction.KEY_SAFE_REVEAL, [RID], T0, {"reason": "ambulance crew at the door"})
    await audit.record(Actor("bea", "session"), AuditAction.CARD_READ, [OTHER], T0)
    return {"help_alert": help_alert.id, "fall_alert": fall.id, "task_done": task_done}
