"""Escalation of unacknowledged alerts: second tier, then key-holders by phone; the escalations table's one writer."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from outreach import escalation_history as history
from outreach.call_log import CallLog, CallRecord
from outreach.call_vocabulary import CallMode, CallOutcome, CallPurpose
from outreach.escalation_steps import (EscalationPolicy, EscalationState, Step, StepKind, after_call, arm,  # noqa: F401
                                       next_escalation_step, rearm)
from outreach.telephony import CallRejected, CallRequest, Telephony
from outreach.voice_prompts import call_language, prompts_for
from telecare.alerts import AlertSink, Alert, AlertChange, AlertChangeKind, AlertStatus, Severity, alert_from_row
from telecare.bus import ALERTS, Bus, FeedGap, FeedState
from telecare.clock import Clock
from telecare.health import Health, PartState
from telecare.errors import TelecareError, TelephonyError
from telecare.metrics import ESCALATION_STEPS, ESCALATIONS_EXHAUSTED
from telecare.people import ResidentLookup
from telecare.store import Database

log = logging.getLogger(__name__)
PART = "escalation"  # this part's name in the Health registry
# Only alerts about a person escalate: a low battery never wakes a neighbour.
ESCALATE = frozenset({Severity.CRITICAL, Severity.HIGH})


_STATE_COLS = "alert_id, tier, next_at, contact_index, state, updated_at, round"
_ALERT_COLS = """a.id, a.resident_id, a.type, a.severity, a.status, a.raised_at, a.first_event_at, a.last_event_at,
    a.count, a.reason, a.device_id, a.delayed, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by,
    a.outcome, a.note, a.reason_template, a.reason_params"""


class Escalator:
    """Consumes alert changes and clock ticks; persists each step; calls key-holders. It never writes alerts."""

    def __init__(self, db: Database, bus: Bus, alerts: AlertSink, telephony: Telephony, residents: ResidentLookup,
                 clock: Clock, *, second_tier_after_s: float = 60, keyholders_after_s: float = 180,
                 call_log: CallLog, call_wait_s: float = 90, repeat_s: float = 600, tick_s: float = 1.0,
                 health: Health | None = None) -> None:
        self._db, self._bus, self._alerts, self._tel = db, bus, alerts, telephony
        self._health = health
        self._residents, self._clock = residents, clock
        self.policy = EscalationPolicy(second_tier_after_s, keyholders_after_s, call_wait_s, repeat_s)
        self._tick_s = tick_s
        self._log = call_log  # shared with the dialer, which reports the key-holder calls' results
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        bus.register(ALERTS, "escalation")  # before anything runs, so no alert change published meanwhile is lost

    async def handle(self, change: AlertChange) -> None:
        """Arm on raise, re-arm on new events, stop on acknowledge/resolve; then take any due step."""
        now, alert = self._clock.now(), change.alert
        if change.kind == AlertChangeKind.ESCALATED:
            return  # our own announcement coming back
        async with self._lock:
            current = await self._load(alert.id)
            armed = False
            if (change.kind in (AlertChangeKind.RAISED, AlertChangeKind.UPDATED) and current is None
                    and alert.status == AlertStatus.OPEN and alert.severity in ESCALATE):
                armed = await self._insert(arm(alert, now, self.policy))
            elif change.kind == AlertChangeKind.UPDATED and current is not None:
                new = rearm(current, now, self.policy)
                if new != current and await self._save(current, new):
                    ESCALATION_STEPS.labels("rearmed").inc()
            if not await self._advance(alert, now) and armed:
                await self._announce(alert)  # the raise frame may have been rendered before the row existed

    async def tick(self) -> int:
        """Take every due step (and stop escalations of alerts handled meanwhile); return steps taken."""
        now = self._clock.now()
        rows = await self._db.fetch(
            f"""SELECT {_ALERT_COLS} FROM escalations e JOIN alerts a ON a.id = e.alert_id
                WHERE e.state IN ('armed', 'calling', 'exhausted') AND (e.next_at <= %s OR a.status <> 'open')
                ORDER BY e.next_at LIMIT 500""", (now,))
        taken = 0
        async with self._lock:
            for row in rows:
                taken += await self._advance(alert_from_row(row), now)
        return taken

    async def resume(self) -> int:
        """After a restart: arm open alerts that have no escalation yet (raised while we were down)."""
        now = self._clock.now()
        rows = await self._db.fetch(
            f"""SELECT {_ALERT_COLS} FROM alerts a LEFT JOIN escalations e ON e.alert_id = a.id
                WHERE a.status = 'open' AND e.alert_id IS NULL AND a.severity IN ('critical', 'high')""")
        for row in rows:
            await self._insert(arm(alert_from_row(row), now, self.policy))
        return len(rows)

    async def on_call_result(self, record: CallRecord) -> None:
        """A key-holder call closed (from the dialer's update handler): pressed 1 accepts, else the next one."""
        if record.alert_id is None:
            return
        now = self._clock.now()
        accepted = record.outcome == CallOutcome.ACCEPTED
        async with self._lock:
            current = await self._load(record.alert_id)
            if current is None:
                return
            new = after_call(current, accepted, now)
            if new != current and await self._save(current, new):
                alert = await self._alerts.get(record.alert_id)
                holder = await self._holder(alert.resident_id, current.contact_index)
                await history.append(self._db, alert.id, now, history.result_line(record.outcome, holder, current))
                if accepted:
                    ESCALATION_STEPS.labels("accepted").inc()
                    log.info("alert %s: key-holder #%d accepted", record.alert_id, current.contact_index + 1)
                    await self._announce(alert)
                elif not await self._advance(alert, now):
                    await self._announce(alert)

    async def _advance(self, alert: Alert, now: datetime) -> int:
        """Apply next_escalation_step until it says wait (a stop or several overdue steps in one go); steps that
        changed something are written to the alert's history and announced once on the alerts topic."""
        taken = 0
        try:
            while (state := await self._load(alert.id)) is not None:
                resident = await self._residents.resident(alert.resident_id)
                holders = resident.key_holders if resident else ()
                step = next_escalation_step(state, alert, now, key_holders=len(holders), policy=self.policy)
                if step.kind in (StepKind.WAIT, StepKind.NONE) or not await self._save(state, step.state):
                    return taken
                taken += 1
                ESCALATION_STEPS.labels(step.kind).inc()
                if step.kind == StepKind.EXHAUSTED:
                    ESCALATIONS_EXHAUSTED.inc()
                    log.warning("alert %s: nobody reached in round %d", alert.id, step.state.round)
                else:
                    log.info("alert %s escalation: %s (tier %d)", alert.id, step.kind, step.state.tier)
                holder = holders[step.state.contact_index] if step.kind == StepKind.CALL_KEY_HOLDER else None
                line = history.step_line(step.kind, step.state, holder)
                if line is not None:
                    await history.append(self._db, alert.id, now, line)
                if step.kind == StepKind.CALL_KEY_HOLDER:
                    await self._call(alert, resident, holder, now)
                    return taken
            return taken
        finally:
            if taken:
                await self._announce(alert)

    async def _announce(self, alert: Alert) -> None:
        """Tell the queues the escalation moved (ESCALATED): nobody reached makes the page beep again."""
        await self._bus.publish(ALERTS, alert.resident_id, AlertChange(AlertChangeKind.ESCALATED, alert))

    async def _holder(self, resident_id: str, index: int) -> Any:
        resident = await self._residents.resident(resident_id)
        holders = resident.key_holders if resident else ()
        return holders[index] if index < len(holders) else None

    async def _call(self, alert: Alert, resident: Any, holder: Any, now: datetime) -> None:
        language = call_language(resident.language if resident else None)  # the key-holder hears the resident's
        call_id = await self._log.start_attempt(
            resident_id=alert.resident_id, purpose=CallPurpose.ESCALATION, caller="automated", mode=CallMode.AUTOMATED,
            phone=holder.phone, started_at=now, alert_id=alert.id)
        request = CallRequest(str(call_id), holder.phone, language,
                              message=prompts_for(language).key_holder, gather_digits=True,
                              key_prompt="")  # the message asks its own question
        try:
            handle = await self._tel.place_call(request)
        except TelephonyError as err:
            log.warning("alert %s: key-holder call failed to start: %s", alert.id, err)
            outcome = CallOutcome.WRONG_NUMBER if isinstance(err, CallRejected) else CallOutcome.FAILED
            record = await self._log.finish(call_id, outcome, now)
            if record is not None:
                # The result comes straight back: the next key-holder after the lock is released.
                job = asyncio.get_running_loop().create_task(self._next_key_holder(record))
                self._pending.add(job)  # keep a reference until it ran
                job.add_done_callback(self._pending.discard)
            return
        await self._log.set_provider_id(call_id, handle.provider_call_id)

    async def _next_key_holder(self, record: CallRecord) -> None:
        """on_call_result for a call that failed to start; on failure the tick takes the step when it is due."""
        try:
            await self.on_call_result(record)
        except Exception as err:  # noqa: BLE001 - a background step: logged, and the ticker retries it
            log.error("alert %s: moving to the next key-holder failed: %s", record.alert_id, type(err).__name__)

    async def _load(self, alert_id: int) -> EscalationState | None:
        row = await self._db.fetchrow(f"SELECT {_STATE_COLS} FROM escalations WHERE alert_id = %s", (alert_id,))
        return EscalationState(**row) if row else None

    async def _insert(self, state: EscalationState) -> bool:
        return 1 == await self._db.execute(
            f"INSERT INTO escalations ({_STATE_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
            (state.alert_id, state.tier, state.next_at, state.contact_index, state.state, state.updated_at,
             state.round))

    async def _save(self, old: EscalationState, new: EscalationState) -> bool:
        """Compare-and-set, so two replicas never take the same step twice."""
        count = await self._db.execute(
            """UPDATE escalations SET tier = %s, next_at = %s, contact_index = %s, state = %s, updated_at = %s,
                      round = %s
               WHERE alert_id = %s AND state = %s AND tier = %s AND contact_index = %s AND next_at = %s
                 AND round = %s""",
            (new.tier, new.next_at, new.contact_index, new.state, new.updated_at, new.round,
             old.alert_id, old.state, old.tier, old.contact_index, old.next_at, old.round))
        return count == 1

    async def tiers(self, alert_ids: list[int] | None = None) -> list[EscalationState]:
        """Escalation states (all active ones, or for these alerts) for the care/operator API."""
        rows = await self._db.fetch(
            f"""SELECT {_STATE_COLS} FROM escalations
                WHERE (%(ids)s::jsonb IS NULL AND state IN ('armed', 'calling', 'exhausted'))
                   OR alert_id IN (SELECT jsonb_array_elements_text(%(ids)s::jsonb)::bigint)
                ORDER BY alert_id""", {"ids": list(alert_ids) if alert_ids is not None else None})
        return [EscalationState(**r) for r in rows]

    async def start(self) -> None:
        """Resume persisted escalations, then consume alert changes and tick (run until stop())."""
        await self.resume()
        self._tasks = [asyncio.create_task(self._consume(), name="escalation-consume"),
                       asyncio.create_task(self._ticker(), name="escalation-tick")]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self._report(PartState.OK)

    def _report(self, state: PartState, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(PART, state, detail)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        # Both loops catch per-item failures and run until stop() cancels them: any other end (an error, or
        # the subscription simply ending) leaves alarms unescalated: say so (health fails, the process exits).
        if not task.cancelled():
            name = type(task.exception()).__name__ if task.exception() is not None else "ended"
            log.error("escalation loop %s died: %s", task.get_name(), name)
            self._report(PartState.FAILED, f"{task.get_name()} died: {name}")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._health is not None:
            self._health.forget(PART)

    async def _consume(self) -> None:
        async for message in self._bus.subscribe(ALERTS, "escalation", gaps=True):
            try:
                if isinstance(message.value, FeedGap):
                    if message.value.state == FeedState.RESUMED:
                        # Alerts raised while the feed was down were never seen: arm them from the table (the
                        # tick already stops escalations of alerts handled meanwhile, from the table too).
                        armed = await self.resume()
                        log.info("escalation caught up after a feed gap: %d alert(s) armed", armed)
                    continue
                await self.handle(message.value)
            except TelecareError as err:
                log.error("escalation could not handle an alert change: %s", err)
            except Exception as err:  # noqa: BLE001 - one change's bug must not stop escalating the others
                log.error("escalation failed on an alert change: %s", type(err).__name__)

    async def _ticker(self) -> None:
        while True:
            try:
                await self.tick()
            except TelecareError as err:
                log.error("escalation tick failed: %s", err)
            except Exception as err:  # noqa: BLE001 - the next tick retries; the alarm must keep escalating
                log.error("escalation tick crashed: %s", type(err).__name__)
            await asyncio.sleep(self._tick_s)
