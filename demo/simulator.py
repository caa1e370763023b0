"""Simulated homes over MQTT: one connection per gateway (last will = offline), realistic days, demo incidents."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from demo.daylife import SimEvent, plan_day
from demo.demo_script import GatewayOutage, demo_script
from demo.fleet import barcelona_fleet
from telecare.clock import Clock, SystemClock
from telecare.errors import BrokerError, ConfigError
from telecare.events import EventType
from telecare.metrics import SIMULATOR_MESSAGES
from telecare.mqtt import MqttPublisher
from telecare.people import Device, Resident

log = logging.getLogger(__name__)

GATEWAY_HEARTBEAT = timedelta(seconds=60)
CONNECTS_AT_ONCE = 20
MAX_HOMES = 300  # paho's loop uses select() (fds < 1024, 3 per client): ~330 connections time out
_RECONNECT = object()  # a worker command: come back online
_DROP = object()  # a worker command: lose the connection abruptly


Login = tuple[str, str]  # (username, password) of one gateway's MQTT account


def load_credentials(path: Path | str) -> dict[str, Login]:
    """`<data-dir>/demo-gateways.json` ({gateway_id: {"username", "password"}}) -> {gateway_id: login}."""
    try:
        doc = json.loads(Path(path).read_text())
        return {gw: (v["username"], v["password"]) for gw, v in doc.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise ConfigError(f"{path}: not a gateway credentials file ({{gateway_id: {{username, password}}}}): "
                          f"{type(err).__name__}") from err


def status_topic(gateway_id: str) -> str:
    return f"telecare/v1/{gateway_id}/status"


def encode(event: SimEvent, tz: ZoneInfo) -> tuple[str, bytes]:
    """The topic and JSON payload of docs/protocol.md (ts in the home's local offset, msg_id stable)."""
    ms = int(event.at.timestamp() * 1000)
    payload: dict[str, object] = {"msg_id": f"{event.device_id}.{event.type.value}.{ms}",
                                  "ts": event.at.astimezone(tz).isoformat(timespec="milliseconds")}
    if event.battery is not None:
        payload["battery"] = event.battery
    if event.value is not None:
        payload["value"] = event.value
    topic = f"telecare/v1/{event.gateway_id}/{event.device_id}/{event.type.value}"
    return topic, json.dumps(payload, separators=(",", ":")).encode()


class _Gateway:
    """One home's MQTT connection; a worker publishes its queue in order so the loop never blocks."""

    def __init__(self, url: str, gateway_id: str, client_prefix: str, connecting: asyncio.Semaphore,
                 login: Login | None = None) -> None:
        self.id = gateway_id
        self._login = login  # this home's own MQTT account (None: anonymous, for a broker without accounts)
        self._connecting = connecting  # a fleet connecting all at once would time itself out
        self._url, self.client_id = url, f"{client_prefix}-{gateway_id}"
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.online = False  # as the loop sees it (drops and reconnects are queued commands)
        self.buffer: list[tuple[str, bytes]] = []  # what the gateway keeps while offline
        self._pub: MqttPublisher | None = None
        self.published = 0

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            user, password = self._login or (None, None)
            pub = MqttPublisher(self._url, self.client_id, will=(status_topic(self.id), b"offline", True),
                                username=user, password=password)
            try:
                async with self._connecting:
                    await pub.connect()
                await pub.publish(status_topic(self.id), b"online", retain=True)
                SIMULATOR_MESSAGES.labels("status").inc()
                self._pub = pub
                return
            except BrokerError as err:
                # The first failure is worth a warning; a whole fleet retrying is not worth a thousand.
                (log.warning if delay == 0.5 else log.debug)(
                    "gateway %s cannot reach the broker (%s); retrying in %.1fs", self.id, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    async def work(self) -> None:
        await self._connect()
        while True:
            item = await self.queue.get()
            if item is _DROP and self._pub is not None:
                await self._pub.drop()
                self._pub = None
            elif item is _RECONNECT:
                await self._connect()
            elif isinstance(item, tuple) and self._pub is not None:
                try:
                    await self._pub.publish(*item)
                    self.published += 1
                    SIMULATOR_MESSAGES.labels(item[0].rsplit("/", 1)[-1]).inc()
                except BrokerError:
                    log.warning("gateway %s: a publish failed", self.id)
                except Exception:  # noqa: BLE001 - one home's failure must not silence it for good
                    log.exception("gateway %s: unexpected publish error", self.id)

    async def close(self) -> None:
        if self._pub is not None:
            await self._pub.disconnect()
            self._pub = None


class Simulator:
    """Publishes the homes of `residents`/`devices`; `run()` until cancelled. Time is `clock` × `speed`.

    speed > 1 stamps times ahead of the wall clock (ingest refuses events more than an hour ahead):
    use it with a FakeClock or to load a broker, not against a live platform.
    """

    def __init__(self, mqtt_url: str, residents: list[Resident], devices: list[Device], clock: Clock, *,
                 seed: int = 7, speed: float = 1.0, demo: bool = True, poll_seconds: float = 0.2,
                 client_prefix: str = "sim", credentials: Mapping[str, Login] | None = None) -> None:
        """`credentials`: each gateway's MQTT login ({gateway_id: (username, password)}); None = anonymous."""
        self._url, self._clock, self._seed, self._speed = mqtt_url, clock, seed, speed
        self._credentials = credentials
        if len(residents) > MAX_HOMES:
            log.warning("simulating the first %d of %d homes (one process keeps at most %d MQTT connections)",
                        MAX_HOMES, len(residents), MAX_HOMES)
            residents = sorted(residents, key=lambda r: r.id)[:MAX_HOMES]
        self._residents = {r.id: r for r in residents}
        self._devices = [d for d in devices if d.resident_id in self._residents]
        # Unique per run on an anonymous broker: a second simulator of the same fleet (`telecare simulate` beside
        # the demo) with the same client ids would take over each other's connections (a reconnect storm, false
        # offline alerts). A broker with accounts makes every client id its username (use_username_as_clientid):
        # there one home has one connection, so run a second simulator only against a demo with --no-simulator.
        self._demo, self._poll = demo, poll_seconds
        self.client_prefix = f"{client_prefix}-{secrets.token_hex(4)}"
        self._zones = {r.id: ZoneInfo(r.timezone) for r in residents}
        self._gw_zone = {d.gateway_id: self._zones[d.resident_id] for d in self._devices}
        self._homes: dict[str, list[Device]] = {rid: [] for rid in self._residents}
        for d in self._devices:
            self._homes[d.resident_id].append(d)
        self.gateways: dict[str, _Gateway] = {}
        self._heap: list[tuple[datetime, int, object]] = []
        self._seq = itertools.count()
        self._planned: dict[str, date] = {}
        self._suppress: dict[str, tuple[frozenset[EventType], datetime]] = {}
        self._start = clock.now()

    @property
    def resident_ids(self) -> list[str]:
        return list(self._residents)  # the homes this simulator runs

    def sim_now(self) -> datetime:
        """Simulated time: the clock, sped up from the start."""
        return self._start + (self._clock.now() - self._start) * self._speed

    def _push(self, at: datetime, item: object) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), item))

    def _plan(self, rid: str, day: date) -> None:
        for event in plan_day(self._residents[rid], self._homes[rid], day, self._seed):
            if event.at >= self._start:
                self._push(event.at, ("day", rid, event))
        self._planned[rid] = day

    def _plan_ahead(self, now: datetime) -> None:
        """Keep every home planned until the end of tomorrow (local), one day at a time."""
        for rid in self._residents:
            today = now.astimezone(self._zones[rid]).date()
            last = self._planned.get(rid)
            day = today if last is None else last + timedelta(days=1)
            while day <= today + timedelta(days=1):
                self._plan(rid, day)
                day += timedelta(days=1)

    def _schedule_demo(self, start: datetime) -> None:
        script = demo_script(list(self._residents.values()), self._devices, start, self._seed)
        for event in script.events:
            self._push(event.at, ("demo", event.gateway_id, event))
        for outage in script.outages:
            self._push(outage.start, ("drop", outage))
        self._suppress = script.suppress
        self._push(start + timedelta(hours=24), ("demo-more", None))

    def _send(self, gateway_id: str, event: SimEvent) -> None:
        gw = self.gateways.get(gateway_id)
        if gw is None:
            return
        topic, payload = encode(event, self._gw_zone[gateway_id])
        if gw.online:
            gw.queue.put_nowait((topic, payload))
        else:
            gw.buffer.append((topic, payload))  # sent late, with its original ts, when back online

    def _handle(self, at: datetime, item: tuple) -> None:
        kind = item[0]
        if kind == "day":
            _, rid, event = item
            held = self._suppress.get(rid)
            if held and event.type in held[0] and event.at < held[1]:
                return
            self._send(event.gateway_id, event)
        elif kind == "demo":
            self._send(item[1], item[2])
        elif kind == "hb":
            gw = self.gateways[item[1]]
            if gw.online:
                self._send(gw.id, SimEvent(at, gw.id, gw.id, EventType.HEARTBEAT))
            self._push(at + GATEWAY_HEARTBEAT, item)
        elif kind == "drop":
            outage: GatewayOutage = item[1]
            gw = self.gateways.get(outage.gateway_id)
            if gw is not None and gw.online:
                gw.online = False
                gw.queue.put_nowait(_DROP)
                self._push(outage.end, ("back", gw.id))
                log.info("gateway %s goes offline until %s", gw.id, outage.end.isoformat())
        elif kind == "back":
            gw = self.gateways[item[1]]
            gw.online = True
            gw.queue.put_nowait(_RECONNECT)
            for message in gw.buffer:
                gw.queue.put_nowait(message)
            gw.buffer.clear()
        elif kind == "demo-more":
            self._schedule_demo(at)
        elif kind == "raw":
            gw = self.gateways.get(item[1])
            if gw is not None and gw.online:
                gw.queue.put_nowait((item[2], item[3]))

    def installer_visit(self, gateway_id: str, tests: list[tuple[str, EventType]], *,
                        after: timedelta = timedelta(seconds=3), every: timedelta = timedelta(seconds=2)) -> None:
        """A simulated installer at a commissioning visit: one garbled message from the first sensor (a loose
        battery), then each (device, event type) test `every` apart, starting `after` from now."""
        if gateway_id not in self._gw_zone:
            return
        at = self.sim_now() + after
        if len(tests) > 1:
            topic = f"telecare/v1/{gateway_id}/{tests[1][0]}/{tests[1][1].value}"
            self._push(at, ("raw", gateway_id, topic, b'{"msg_id": "garbled", "ts": '))
        for i, (device_id, kind) in enumerate(tests):
            self._push(at + every * (i + 1), ("demo", gateway_id, SimEvent(at + every * (i + 1), gateway_id,
                                                                             device_id, kind)))

    async def run(self) -> None:
        """Connect every gateway, then publish what falls due; cancel to stop (clean disconnects)."""
        self._start = self._clock.now()
        gateway_ids = sorted({d.gateway_id for d in self._devices})
        connecting = asyncio.Semaphore(CONNECTS_AT_ONCE)
        logins = self._credentials
        if logins is not None and (missing := [g for g in gateway_ids if g not in logins]):
            log.warning("%d simulated gateways have no MQTT credentials (e.g. %s): the broker refuses them",
                        len(missing), missing[0])
        self.gateways = {g: _Gateway(self._url, g, self.client_prefix, connecting,
                                     None if logins is None else logins.get(g)) for g in gateway_ids}
        workers = [asyncio.create_task(gw.work(), name=f"sim-{gw.id}") for gw in self.gateways.values()]
        for i, gw in enumerate(self.gateways.values()):
            gw.online = True
            # Stagger the first beats over a minute, as real homes are not in lock-step.
            self._push(self._start + GATEWAY_HEARTBEAT * (i / max(1, len(gateway_ids))), ("hb", gw.id))
        self._plan_ahead(self._start)
        if self._demo:
            self._schedule_demo(self._start)
        log.info("simulating %d homes (speed %.1f, demo %s)", len(gateway_ids), self._speed, self._demo)
        try:
            while True:
                now = self.sim_now()
                self._plan_ahead(now)
                while self._heap and self._heap[0][0] <= now:
                    at, _, item = heapq.heappop(self._heap)
                    self._handle(at, item)  # type: ignore[arg-type]
                await asyncio.sleep(self._poll)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await asyncio.gather(*(gw.close() for gw in self.gateways.values()), return_exceptions=True)


async def simulate(mqtt_url: str, residents_n: int, seed: int, credentials: Mapping[str, Login] | None = None) -> None:
    """`telecare simulate`: the demo fleet (same ids as the demo seeded) against any broker, until cancelled."""
    clock = SystemClock()
    today = clock.now().astimezone(ZoneInfo("Europe/Madrid")).date()
    residents, devices = barcelona_fleet(residents_n, seed=seed, today=today)
    await Simulator(mqtt_url, residents, devices, clock, seed=seed, credentials=credentials).run()
