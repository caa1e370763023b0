"""The same rule engine on faust-streaming (the only module importing faust): kept to reproduce why the product
does not use it (docs/kafka.md "Why the rules workers are not Faust agents"; not wired into any process).

One agent over `events` keeps each resident's state (rules/model.py JSON) in a Faust table whose changelog
topic restores it on another worker; verdicts go to `alert-triggers` keyed by resident. Faust writes a table
only from inside a stream (the changelog partition is the current event's), so due timers are fired when an
event of that resident is processed, not from a free-running clock.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import faust

from rules.directory import Directory
from rules.engine import evaluate, new_state, state_from_json, state_to_json, tick
from telecare.alerts import encode_verdict
from telecare.bus import ALERT_TRIGGERS, EVENTS
from telecare.clock import Clock
from telecare.events import decode_event
from telecare.people import ResidentLookup

log = logging.getLogger(__name__)


class FaustRulesHost:
    """A Faust worker hosting rules/engine.py; `owned` and `evaluated` for the fault test's status file."""

    def __init__(self, bootstrap: str, residents: ResidentLookup, clock: Clock, *, group: str = "rules",
                 session_timeout_ms: int = 10_000, data_dir: Path = Path(".")) -> None:
        self._clock, self._directory = clock, Directory(residents, device_refresh_seconds=5.0)
        self.evaluated = 0
        (data_dir / "faust").mkdir(parents=True, exist_ok=True)
        # The app id is the consumer group: `events.<group>`, the group the aiokafka host uses (and anchors).
        self.app = faust.App(f"events.{group}", broker=f"kafka://{bootstrap}", store="memory://",
                             web_enabled=False, topic_partitions=6, datadir=str(data_dir / "faust"),
                             broker_session_timeout=session_timeout_ms / 1000,
                             broker_heartbeat_interval=max(0.1, session_timeout_ms / 3000),
                             consumer_auto_offset_reset="earliest", table_standby_replicas=0)
        self._events = self.app.topic(EVENTS, key_type=bytes, value_type=bytes, key_serializer="raw",
                                      value_serializer="raw")
        self._verdicts = self.app.topic(ALERT_TRIGGERS, key_type=bytes, value_type=bytes, key_serializer="raw",
                                        value_serializer="raw")
        self._table = self.app.Table("rules-state", default=None, partitions=6, key_type=str, value_type=str)
        self.app.agent(self._events, name="rules")(self._agent)
        self.app.task(self._load)

    async def _load(self, app: Any = None) -> None:
        await self._directory.refresh_all()

    async def _agent(self, stream: Any) -> None:
        async for key, raw in stream.items():
            try:
                await self._one(raw)
            except Exception as err:  # noqa: BLE001 - one bad event must not stop the agent
                log.error("faust rules: event failed: %s", type(err).__name__)

    async def _one(self, raw: bytes) -> None:
        event = decode_event(raw)
        rid = event.resident_id
        resident = await self._directory.for_event(event)
        if resident is None:
            return
        stored = self._table.get(rid)
        state = state_from_json(stored if isinstance(stored, str) else stored.decode()) if stored else new_state(rid)
        now, devices = self._clock.now(), self._directory.devices(rid)
        state, decisions = evaluate(event, resident, devices, state, now)
        state, fired = tick(resident, devices, state, now)  # timers fire with the resident's events (see above)
        self._table[rid] = state_to_json(state)
        self.evaluated += 1
        for verdict in [*decisions, *fired]:
            await self._verdicts.send(key=rid.encode(), value=encode_verdict(verdict))

    @property
    def owned(self) -> set[int]:
        """Partitions of `events` this worker holds now."""
        try:
            return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == EVENTS}
        except Exception:  # noqa: BLE001 - before the first assignment
            return set()

    def run_forever(self) -> None:
        """Run the Faust worker in this process until SIGTERM/SIGINT (Faust owns the event loop)."""
        worker = faust.Worker(self.app, loglevel="WARNING", quiet=True)
        worker.execute_from_commandline()
