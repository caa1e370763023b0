"""The pure rule engine: (event or clock tick, resident, devices, state, now) -> (new state, alert triggers)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from rules.catalog import (
    BATTERY_RECOVERED_TEXT, BACK_ONLINE_TEXT, DISPENSER_MISSED_TEXT, DOSE_PLAN_AHEAD,
    GATEWAY_OFFLINE_TEXT, INSTANT_ALERTS, RULES, SUPERVISION, worded,
)
from rules.model import (
    ResidentState, Timer, new_state, next_due, state_from_dict, state_from_json, state_to_dict, state_to_json,
)
from telecare.alerts import AlertClear, AlertTrigger, AlertType
from telecare.events import ACTIVITY_EVENT_TYPES, LATE_AFTER, DeviceType, Event, EventType
from telecare.people import Device, Resident

__all__ = [  # the state model lives in rules.model; the engine re-exports it as its public API
    "Decision", "ResidentState", "Timer", "dose_instants", "evaluate", "in_night_window", "new_state", "next_due", "resume",
    "state_from_dict", "state_from_json", "state_to_dict", "state_to_json", "tick",
]

BED, INACTIVITY, SUP, DOSE = "bed", "inactivity", "sup:", "dose:"  # timer keys (SUP/DOSE are prefixes)
# What the engine decides: raise (or attach to) an alert, or close a technical alert whose condition ended.
Decision = AlertTrigger | AlertClear


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _hhmm(when: datetime, resident: Resident) -> str:
    return f"{when.astimezone(_zone(resident.timezone)):%H:%M}"


def _in_window(t: time, start: time, end: time) -> bool:
    """Wall-clock window test; a window with start > end crosses midnight."""
    return start <= t < end if start <= end else (t >= start or t < end)


def in_night_window(when: datetime, resident: Resident) -> bool:
    """True when `when` falls in the resident's local night (DST-correct: judged on local wall time)."""
    plan = resident.care_plan
    local = when.astimezone(_zone(resident.timezone)).time()
    return _in_window(local, plan.night_start, plan.night_end)


def dose_instants(resident: Resident, after: datetime, until: datetime) -> list[tuple[str, datetime]]:
    """(key, UTC instant) of each dose time per local day in (after, until]; a time in the spring gap moves forward."""
    tz = _zone(resident.timezone)
    day, last = after.astimezone(tz).date(), until.astimezone(tz).date()
    out = []
    while day <= last:
        for t in sorted(resident.care_plan.dose_times):
            # fold=0 picks the first of two ambiguous times and shifts a non-existent one by the gap.
            instant = datetime.combine(day, t, tzinfo=tz).astimezone(timezone.utc)
            if after < instant <= until:
                out.append((f"{DOSE}{day.isoformat()}T{t:%H:%M}", instant))
        day += timedelta(days=1)
    return out


def _trigger(resident: Resident, rule: AlertType, at: datetime, text: tuple[str, str, tuple], device_id: str | None,
             delayed: bool, event: Event | None = None) -> AlertTrigger:
    reason, template, params = text  # catalog.worded(...)
    return AlertTrigger(resident.id, rule, RULES[rule].severity, at, reason, device_id, delayed,
                        event.id if event else None, template, params)


def _clear(resident: Resident, rule: AlertType, at: datetime, text: tuple[str, str, tuple], device_id: str) -> AlertClear:
    reason, template, params = text
    return AlertClear(resident.id, rule, at, reason, device_id, template, params)


def _reconcile(resident: Resident, devices: Iterable[Device], state: ResidentState, now: datetime) -> ResidentState:
    """Arm timers for new devices, presence and dose times; drop those that no longer apply."""
    timers = state.timers
    work: dict[str, Timer] | None = None
    wanted = {f"{SUP}{d.id}": d for d in devices}
    adds = {k: Timer(AlertType.DEVICE_OFFLINE, now + SUPERVISION[d.type], now, d.id)
            for k, d in wanted.items() if k not in timers}
    drops = [k for k in timers if k.startswith(SUP) and k not in wanted]
    if resident.at_home and INACTIVITY not in timers:
        adds[INACTIVITY] = Timer(AlertType.INACTIVITY, now + resident.care_plan.inactivity_window, now)
    elif not resident.at_home and INACTIVITY in timers:
        drops.append(INACTIVITY)  # away from home: silence is expected, start afresh on return
    plan_sig = _dose_signature(resident.care_plan.dose_times)
    planned, sig = state.doses_planned_until, state.dose_plan
    if plan_sig != sig:  # dose times changed: forget future doses of the old plan, plan anew from now
        drops += [k for k, t in timers.items() if k.startswith(DOSE) and not t.fired and t.since > now]
        planned, sig = now, plan_sig
    if plan_sig and (planned is None or planned < now + DOSE_PLAN_AHEAD / 2):
        lo, planned = planned or now, now + DOSE_PLAN_AHEAD
        window = resident.care_plan.dose_window
        adds.update((k, Timer(AlertType.MEDICATION_MISSED, at + window, at))
                    for k, at in dose_instants(resident, lo, planned) if k not in timers or k in drops)
    if adds or drops:
        work = {k: t for k, t in timers.items() if k not in drops}
        work.update(adds)
    if work is None and planned == state.doses_planned_until and sig == state.dose_plan:
        return state
    return replace(state, timers=work if work is not None else timers, doses_planned_until=planned,
                   dose_plan=sig)


@lru_cache(maxsize=256)
def _dose_signature(dose_times: tuple[time, ...]) -> tuple[str, ...]:
    return tuple(sorted(f"{t:%H:%M}" for t in dose_times))


def _rearm(timers: dict[str, Timer], key: str, rule: AlertType, since: datetime, span: timedelta,
           device_id: str | None = None) -> None:
    """Restart a silence timer from `since` unless it already measures from a later moment."""
    current = timers.get(key)
    if current is None or since > current.since:
        timers[key] = Timer(rule, since + span, since, device_id)


def _kind(by_id: Mapping[str, Device], device_id: str | None) -> DeviceType | None:
    return by_id[device_id].type if device_id in by_id else None


def evaluate(event: Event, resident: Resident, devices: Iterable[Device], state: ResidentState,
             now: datetime) -> tuple[ResidentState, list[Decision]]:
    """Apply one event: update timers and flags; return the alerts it triggers and the technical ones it clears."""
    devices = list(devices)
    state = _reconcile(resident, devices, state, now)
    plan, ts, dev = resident.care_plan, event.ts, event.device_id
    by_id = {d.id: d for d in devices}
    timers, seen, low = dict(state.timers), dict(state.last_seen), state.low_battery
    bed_return = state.last_bed_return
    out: list[Decision] = []
    if event.type is EventType.GATEWAY_OFFLINE:  # the broker speaks for the gateway: not a sign of life
        current = timers.get(SUP + dev)
        if current is None or not current.fired:  # once per silence
            out.append(_trigger(resident, AlertType.DEVICE_OFFLINE, ts, worded(
                GATEWAY_OFFLINE_TEXT, device_id=dev, time=_hhmm(ts, resident)), dev, event.delayed, event))
            timers[SUP + dev] = Timer(AlertType.DEVICE_OFFLINE, ts, current.since if current else ts, dev,
                                      event.delayed, fired=True)
    else:  # any message, tamper included, is a sign of life for the device and the gateway that relayed it
        back: list[str] = []
        for device_id, at in ((dev, ts), (event.gateway_id, event.received_at)):
            if device_id in by_id and (device_id not in seen or at > seen[device_id]):
                seen[device_id] = at
                was_silent = (current := timers.get(SUP + device_id)) is not None and current.fired
                _rearm(timers, SUP + device_id, AlertType.DEVICE_OFFLINE, at,
                       SUPERVISION[by_id[device_id].type], device_id)
                if was_silent and not timers[SUP + device_id].fired:
                    back.append(device_id)
        # Close the offline alert only when no device of this resident is still silent (one alert covers all).
        if back and not any(t.fired for k, t in timers.items() if k.startswith(SUP)):
            out.append(_clear(resident, AlertType.DEVICE_OFFLINE, ts, worded(
                BACK_ONLINE_TEXT, device=_kind(by_id, back[0]), device_id=back[0], time=_hhmm(ts, resident)), back[0]))
    if event.type is EventType.LOW_BATTERY or (event.battery is not None and event.battery < plan.low_battery_percent):
        if dev not in low:  # once per battery episode, not once per heartbeat
            low = low | {dev}
            level = f" ({event.battery}%)" if event.battery is not None else ""
            out.append(_trigger(resident, AlertType.LOW_BATTERY, ts, worded(RULES[AlertType.LOW_BATTERY].text,
                device=_kind(by_id, dev), device_id=dev, level=level), dev, event.delayed, event))
    elif event.battery is not None and dev in low:
        low = low - {dev}  # recovered: the next drop is a new episode
        if not low:  # the one low-battery alert covers every device: close it when none is low any more
            out.append(_clear(resident, AlertType.LOW_BATTERY, ts, worded(BATTERY_RECOVERED_TEXT,
                device=_kind(by_id, dev), device_id=dev, level=event.battery, time=_hhmm(ts, resident)), dev))
    alert_type = INSTANT_ALERTS.get(event.type)
    if alert_type is not None:
        text = DISPENSER_MISSED_TEXT if alert_type is AlertType.MEDICATION_MISSED else RULES[alert_type].text
        out.append(_trigger(resident, alert_type, ts, worded(text, time=_hhmm(ts, resident)), dev,
                            event.delayed, event))
    if event.type in ACTIVITY_EVENT_TYPES and resident.at_home:
        _rearm(timers, INACTIVITY, AlertType.INACTIVITY, ts, plan.inactivity_window)
    if event.type is EventType.BED_EXIT and in_night_window(ts, resident):
        window = plan.bed_return_window
        current = timers.get(BED)
        returned = bed_return is not None and ts <= bed_return <= ts + window  # the return overtook the exit
        if not returned and (current is None or current.fired or current.since > ts):
            timer = Timer(AlertType.BED_EXIT_NO_RETURN, ts + window, ts, dev, event.delayed)
            if timer.due <= now:  # a buffered exit whose window already expired: alert at once, flagged late
                timer = timer.marked_fired(delayed=True)
                out.append(_timer_trigger(resident, by_id, timer, now))
            timers[BED] = timer
    elif event.type is EventType.BED_RETURN:
        bed_return = ts if bed_return is None else max(bed_return, ts)
        current = timers.get(BED)
        if current is not None and ts >= current.since:
            del timers[BED]
    elif event.type in (EventType.MEDICATION_TAKEN, EventType.MEDICATION_MISSED):
        key = _dose_for(timers, ts, plan.dose_window)
        if key is not None:  # taken: nothing to chase; missed: the dispenser already said so
            if event.type is EventType.MEDICATION_TAKEN:
                del timers[key]
            else:
                timers[key] = timers[key].marked_fired()
    new = replace(state, timers=timers, last_seen=seen, low_battery=low, last_bed_return=bed_return)
    return new, out


def _dose_for(timers: Mapping[str, Timer], ts: datetime, window: timedelta) -> str | None:
    """The earliest pending dose whose window (dose time ± window) contains `ts`."""
    keys = [k for k, t in timers.items()
            if k.startswith(DOSE) and not t.fired and t.since - window <= ts <= t.due]
    return min(keys, key=lambda k: timers[k].since) if keys else None


def _timer_trigger(resident: Resident, by_id: Mapping[str, Device], timer: Timer, now: datetime) -> AlertTrigger:
    spec = RULES[timer.rule]
    span = timer.due - timer.since
    when = _hhmm(timer.since, resident)
    if timer.rule is AlertType.DEVICE_OFFLINE:
        text = worded(spec.text, device=_kind(by_id, timer.device_id), device_id=timer.device_id, time=when)
    else:
        text = worded(spec.text, time=when, minutes=round(span.total_seconds() / 60),
                      hours=f"{span.total_seconds() / 3600:g}")
    late = timer.delayed or now - timer.due > LATE_AFTER  # e.g. came due while the service was down
    return _trigger(resident, timer.rule, timer.due, text, timer.device_id, late)


def resume(state: ResidentState, now: datetime) -> ResidentState:
    """After a restart: messages sent while we were down never reached us, so silences count from `now`."""
    timers = {k: Timer(t.rule, now + (t.due - t.since), now, t.device_id)
              if k.startswith(SUP) and not t.fired and t.since < now else t
              for k, t in state.timers.items()}
    return replace(state, timers=timers)


def tick(resident: Resident, devices: Iterable[Device], state: ResidentState,
         now: datetime) -> tuple[ResidentState, list[AlertTrigger]]:
    """Fire every timer due by `now` exactly once; prune old fired dose and bed timers."""
    devices = list(devices)
    state = _reconcile(resident, devices, state, now)
    due = [k for k, t in state.timers.items() if not t.fired and t.due <= now]
    stale = [k for k, t in state.timers.items()
             if t.fired and (k == BED or k.startswith(DOSE)) and t.due < now - timedelta(days=2)]
    if not due and not stale:
        return state, []
    by_id = {d.id: d for d in devices}
    timers = {k: t for k, t in state.timers.items() if k not in stale}
    out = []
    for key in sorted(due, key=lambda k: timers[k].due):
        timers[key] = timers[key].marked_fired()
        out.append(_timer_trigger(resident, by_id, timers[key], now))
    return replace(state, timers=timers), out
