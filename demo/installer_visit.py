"""The demo's simulated installer: when someone starts commissioning a demo gateway, its "home" answers.

Each open commissioning session is answered once by the in-process simulator: a garbled message (so the
rejected list has something to explain), then each device's test event as its prompt asks (docs:
devices/commissioning_plan.py PROMPTS), a couple of seconds apart. Demo only; production has real homes.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from devices.commissioning_plan import PROMPTS
from telecare.clock import Clock
from telecare.events import DeviceType, EventType
from telecare.store import Database

log = logging.getLogger(__name__)
POLL_S = 2.0
_OPEN = """SELECT s.id, s.gateway_id FROM commissioning_sessions s
           WHERE s.finished_at IS NULL AND s.started_at > %s ORDER BY s.id"""


# Where a prompt accepts several types, the one a diligent installer produces (the gateway is already online).
_PREFERRED = (EventType.HEARTBEAT, EventType.MEDICATION_TAKEN, EventType.BED_EXIT)


def _test_type(kind: DeviceType) -> EventType:
    accepts = PROMPTS[kind].accepts
    return next((t for t in _PREFERRED if t in accepts), min(accepts))


async def answer_commissioning(db: Database, simulator, clock: Clock, *, poll_s: float = POLL_S) -> None:
    """Forever: answer each new commissioning session of a simulated gateway (each one once)."""
    answered: set[int] = set()
    while True:
        try:
            for row in await db.fetch(_OPEN, (clock.now() - timedelta(hours=1),)):
                if row["id"] in answered:
                    continue
                answered.add(row["id"])
                devices = await db.fetch("SELECT id, type FROM devices WHERE gateway_id = %s "
                                         "ORDER BY type <> 'gateway', id", (row["gateway_id"],))
                tests = [(d["id"], _test_type(DeviceType(d["type"]))) for d in devices]
                simulator.installer_visit(row["gateway_id"], tests)
                log.info("demo installer: answering commissioning session %s of %s (%d devices)", row["id"],
                         row["gateway_id"], len(tests))
        except Exception:  # noqa: BLE001 - a demo nicety must never stop the demo
            log.exception("demo installer: could not read the commissioning sessions; retrying")
        await asyncio.sleep(poll_s)
