"""OutreachService: wires tasks, call log, dialer, human calls, escalation and the scheduler."""
from __future__ import annotations

import logging
from outreach.call_log import CallLog
from outreach.call_vocabulary import CallMode, CallPurpose
from outreach.dialer import Dialer
from outreach.escalation import Escalator
from outreach.human_calls import HumanCalls
from outreach.scheduler import OutreachScheduler
from outreach.tasks import TaskStore
from outreach.telephony import Telephony
from telecare.alerts import AlertSink
from telecare.bus import Bus
from telecare.clock import Clock
from telecare.health import Health
from telecare.people import ResidentLookup
from telecare.settings import Settings
from telecare.store import Database

log = logging.getLogger(__name__)


class OutreachService:
    """The outreach part of a process. Build it in the composition root; `start()`, `stop()`."""

    def __init__(self, db: Database, bus: Bus, alerts: AlertSink, residents: ResidentLookup, telephony: Telephony,
                 clock: Clock, settings: Settings, health: Health | None = None) -> None:
        self.telephony = telephony
        self.tasks = TaskStore(db)
        self.call_log = CallLog(db)
        self.dialer = Dialer(self.tasks, self.call_log, telephony, alerts, residents, clock,
                             cps=settings.calls_per_second, max_concurrent=settings.max_concurrent_calls)
        self.human_calls = HumanCalls(self.tasks, self.call_log, telephony, alerts, residents, clock,
                                      settings.service_zone)
        # Built (and its bus group registered) before anything can publish alerts.
        self.escalator = Escalator(
            db, bus, alerts, telephony, residents, clock, call_log=self.call_log,
            second_tier_after_s=settings.escalation_second_tier_s,
            keyholders_after_s=settings.escalation_keyholders_s, repeat_s=settings.escalation_repeat_s, health=health)
        self.dialer.on_escalation_result(self.escalator.on_call_result)
        telephony.set_update_handler(self.dialer.on_update)  # the one place provider updates arrive
        self.scheduler = OutreachScheduler(db, residents, clock, dispatch=self._dispatch,
                                           weather_feed_url=settings.weather_feed_url,
                                           planning_zone=settings.service_timezone)
        self.residents, self.clock, self.db = residents, clock, db

    async def _dispatch(self) -> None:
        await self.dialer.dispatch()

    async def start(self) -> None:
        """Start the phone simulator's clock (if simulated), escalation and the scheduler."""
        start = getattr(self.telephony, "start", None)
        if callable(start):
            result = start()
            if hasattr(result, "__await__"):
                await result
        await self._close_calls_left_open()
        await self.escalator.start()
        await self.scheduler.start()
        log.info("outreach started")

    async def _close_calls_left_open(self) -> None:
        """A telephony that forgets its calls at a stop never ends the ones ringing then: close them now.

        Before the escalation loop starts, so a lost key-holder call moves on to the next key-holder once.
        """
        if not getattr(self.telephony, "forgets_calls_at_stop", False):
            return  # a provider such as Twilio still reports those calls' ends (and the dialer times them out)
        now = self.clock.now()
        closed = await self.call_log.close_left_open(now, now)
        if closed:
            log.warning("closed %d call(s) left open when the previous run stopped", len(closed))
        for record in closed:
            if record.purpose == CallPurpose.ESCALATION and record.mode == CallMode.AUTOMATED:
                await self.escalator.on_call_result(record)

    async def stop(self) -> None:
        """Stop the scheduler first (no new calls), then escalation, follow-ups and the provider."""
        await self.scheduler.stop()
        await self.escalator.stop()
        await self.dialer.stop()
        await self.telephony.close()
