"""Pure: the service-quality board's figures from rows of the platform's own records.

Alarm answer time is raised -> acknowledged (an alarm resolved without an acknowledgement counts as answered
when resolved: the store sets acknowledged_at then). Targets: 97.5 % answered within 60 s, 99 % within 180 s.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from outreach.planning import FOLLOW_UP_DAYS
from telecare.alerts import AlertType

# Alarms about a person raised by the sensors at critical or high severity: what the telecare answer-time
# targets are about. Medication reminders (medium), welfare checks (outreach) and technical alerts are not.
ALARM_TYPES = frozenset({AlertType.HELP_BUTTON, AlertType.FALL, AlertType.BED_EXIT_NO_RETURN, AlertType.INACTIVITY})
TARGETS: dict[int, float] = {60: 0.975, 180: 0.99}  # seconds -> share of alarms answered within
PENDING_FOR = timedelta(seconds=max(TARGETS))  # an unanswered alarm younger than this may still make it
OFFLINE_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class AlarmRow:
    alert_id: int
    type: str
    raised_at: datetime
    answered_at: datetime | None
    operator: str | None


@dataclass(frozen=True, slots=True)
class CadenceRow:
    resident_id: str
    timezone: str
    level: int
    enrolled_at: datetime
    last_contact: datetime | None  # last reached call, any purpose


@dataclass(frozen=True, slots=True)
class UnreachedRow:
    resident_id: str
    task_id: int
    purpose: str
    at: datetime  # when the task ended unreached


@dataclass(frozen=True, slots=True)
class WelfareRow:
    resident_id: str
    alert_id: int
    raised_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: int
    kind: str
    title: str
    status: str
    created_at: datetime
    tasks: int
    done: int
    unreached: int
    pending: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    device_id: str
    resident_id: str
    type: str
    registered_at: datetime
    last_seen: datetime | None


def _share(n: int, of: int) -> float | None:
    return round(n / of, 6) if of else None


def answer_figures(alarms: Iterable[AlarmRow], now: datetime) -> dict:
    """Counted alarms and the shares answered within each target (None with no alarms)."""
    times: list[float] = []
    unanswered = pending = 0
    for a in alarms:
        if a.answered_at is not None:
            times.append((a.answered_at - a.raised_at).total_seconds())
        elif now - a.raised_at > PENDING_FOR:
            unanswered += 1
        else:
            pending += 1
    counted = len(times) + unanswered
    out = {"alarms": counted, "answered": len(times), "unanswered": unanswered, "pending": pending,
           "median_answer_s": round(median(times), 1) if times else None,
           "max_answer_s": round(max(times), 1) if times else None}
    for seconds in TARGETS:
        out[f"answered_within_{seconds}s"] = _share(sum(1 for t in times if t <= seconds), counted)
    out["meets_targets"] = (None if not counted else
                            all(out[f"answered_within_{s}s"] >= share for s, share in TARGETS.items()))
    return out


def _grouped(alarms: Sequence[AlarmRow], key: Callable[[AlarmRow], object], now: datetime, name: str) -> list[dict]:
    groups: dict[object, list[AlarmRow]] = defaultdict(list)
    for a in alarms:
        groups[key(a)].append(a)
    return [{name: k, **answer_figures(v, now)} for k, v in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def alarm_board(alarms: Sequence[AlarmRow], zone: ZoneInfo, now: datetime) -> dict:
    """Answer figures overall, per service-local day, per local hour of day and per operator."""
    alarms = [a for a in alarms if a.type in ALARM_TYPES]
    answered = [a for a in alarms if a.operator is not None]
    return {**answer_figures(alarms, now),
            "per_day": _grouped(alarms, lambda a: a.raised_at.astimezone(zone).date().isoformat(), now, "day"),
            "per_hour": _grouped(alarms, lambda a: a.raised_at.astimezone(zone).hour, now, "hour"),
            "per_operator": _grouped(answered, lambda a: a.operator, now, "operator")}


def days_since_contact(row: CadenceRow, as_of: datetime) -> int:
    """Local days from the last reached call (or enrolment, if never reached) to as_of."""
    zone = ZoneInfo(row.timezone)
    since = row.last_contact or row.enrolled_at
    return (as_of.astimezone(zone).date() - since.astimezone(zone).date()).days


def cadence(rows: Sequence[CadenceRow], as_of: datetime) -> dict:
    """The share of residents reached within their follow-up interval (15/30/45 days by level)."""
    by_level: dict[int, list[bool]] = defaultdict(list)
    overdue = []
    for r in rows:
        interval = FOLLOW_UP_DAYS.get(r.level, FOLLOW_UP_DAYS[2])
        met = days_since_contact(r, as_of) <= interval
        by_level[r.level if r.level in FOLLOW_UP_DAYS else 2].append(met)
        if not met:
            overdue.append(r.resident_id)
    met_total = sum(sum(v) for v in by_level.values())
    return {"cadence_met": _share(met_total, len(rows)), "residents": len(rows), "met": met_total,
            "by_level": [{"level": lv, "every_days": FOLLOW_UP_DAYS[lv], "residents": len(v), "met": sum(v),
                          "cadence_met": _share(sum(v), len(v))} for lv, v in sorted(by_level.items())],
            "overdue": sorted(overdue)[:200]}


def unreached_today(unreached: Sequence[UnreachedRow], welfare: Sequence[WelfareRow]) -> list[dict]:
    """Residents whose call ended unreached today, each with whether a welfare check alert went out."""
    latest: dict[str, UnreachedRow] = {}
    for u in unreached:
        if u.resident_id not in latest or u.at > latest[u.resident_id].at:
            latest[u.resident_id] = u
    checks: dict[str, WelfareRow] = {}
    for w in sorted(welfare, key=lambda w: w.raised_at):
        checks[w.resident_id] = w
    out = []
    for rid, u in sorted(latest.items(), key=lambda kv: kv[1].at):
        w = checks.get(rid)
        out.append({"resident_id": rid, "task_id": u.task_id, "purpose": u.purpose, "unreached_at": u.at.isoformat(),
                    "welfare_check": w is not None, "welfare_alert_id": w.alert_id if w else None,
                    "welfare_status": w.status if w else None})
    return out


def campaign_reach(rows: Sequence[CampaignRow]) -> list[dict]:
    """Per campaign: its calls by status and the share of (not cancelled) calls that reached someone."""
    return [{"id": c.id, "kind": c.kind, "title": c.title, "status": c.status, "created_at": c.created_at.isoformat(),
             "tasks": c.tasks, "reached": c.done, "unreached": c.unreached, "pending": c.pending,
             "cancelled": c.cancelled, "reach": _share(c.done, c.tasks - c.cancelled)} for c in rows]


def devices_offline(rows: Sequence[DeviceSeen], now: datetime) -> list[dict]:
    """Devices silent for more than 24 h (never heard: counted from registration), longest silent first."""
    out = []
    for d in rows:
        since = d.last_seen or d.registered_at
        if now - since > OFFLINE_AFTER:
            out.append({"device_id": d.device_id, "resident_id": d.resident_id, "type": d.type,
                        "last_seen": d.last_seen.isoformat() if d.last_seen else None,
                        "silent_hours": round((now - since).total_seconds() / 3600, 1)})
    return sorted(out, key=lambda d: -d["silent_hours"])


def service_day(now: datetime, zone: ZoneInfo) -> tuple[date, datetime, datetime]:
    """Today in the service zone, with its start and end instants."""
    day = now.astimezone(zone).date()
    return (day, datetime.combine(day, datetime.min.time(), zone),
            datetime.combine(day + timedelta(days=1), datetime.min.time(), zone))
