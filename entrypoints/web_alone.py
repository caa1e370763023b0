"""The care and phone routes of a web process that runs without outreach (`telecare run web` alone).

The care pages only read and write stores (tasks, call log, campaigns, escalation states), so they are
built here over the database without starting the scheduler, the dialer or the escalation loop. Placing a
call through a provider stays with the outreach process: this process's telephony refuses it with a
message instead of ringing a phone nobody can see.
"""
from __future__ import annotations

from typing import Any

from outreach.telephony import CallHandle, CallRequest, UpdateHandler
from telecare.bus import InProcessBus
from telecare.errors import TelephonyError

SIMULATOR_ELSEWHERE = (
    "The phone simulator runs inside the process that places the calls (`telecare run outreach`), not in this "
    "web process, so its phones cannot ring here. To answer simulated calls in the browser, run the parts "
    "together: `telecare run all` or `telecare demo`.")
TWILIO_PHONES = ("Calls go to real phones through Twilio (TELECARE_TELEPHONY=twilio): there is no phone "
                 "simulator in this installation.")


class CallsElsewhere:
    """Telephony of a web-only process: provider calls belong to the outreach process, so refuse them clearly."""

    def set_update_handler(self, handler: UpdateHandler) -> None:
        """No provider updates arrive in a web-only process."""

    async def place_call(self, request: CallRequest) -> CallHandle:
        """Refuse: a bridged call would ring in no process anyone can see."""
        raise TelephonyError("connecting calls through the platform needs the outreach process "
                             "(`telecare run outreach`, or `run all`); dial the number yourself instead")

    async def hang_up(self, provider_call_id: str) -> None:
        """Nothing is ever placed here."""

    async def close(self) -> None:
        """Nothing to release."""


def phones_reason(telephony: str) -> str:
    """What the /phones page says when this process has no phone simulator."""
    return TWILIO_PHONES if telephony == "twilio" else SIMULATOR_ELSEWHERE


def care_routers_without_outreach(core: Any) -> list[Any]:
    """Care-team routes over the stores, and a /phones page saying where calls ring."""
    from dashboards.routes import care
    from dashboards.routes.phones import elsewhere_router
    from outreach.call_log import CallLog
    from outreach.escalation import Escalator
    from outreach.human_calls import HumanCalls
    from outreach.tasks import TaskStore

    telephony = CallsElsewhere()
    tasks, call_log = TaskStore(core.db), CallLog(core.db)
    from entrypoints.kafka_parts import alerts_via_bus, on_kafka

    alerts = alerts_via_bus(core) if on_kafka(core.settings) else core.alerts  # welfare raises as outreach's
    human_calls = HumanCalls(tasks, call_log, telephony, alerts, core.registry, core.clock)
    # Never started: it only answers the tiers read (`/api/escalations`); the outreach process escalates. Its
    # own unused bus, so registering its consumer group holds back nothing on the process's bus.
    escalator = Escalator(core.db, InProcessBus(), core.alerts, telephony, core.registry, core.clock,
                          call_log=call_log)
    deps = care.CareDeps(core.db, tasks, call_log, human_calls, core.registry, core.clock, escalator)
    return [care.router(deps), elsewhere_router(phones_reason(core.settings.telephony))]
