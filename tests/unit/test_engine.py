"""The pure rule engine, driven with a FakeClock: instant rules, bed exit, battery, supervision, delayed events."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from uuid import uuid4

from rules.engine import evaluate, new_state, next_due, resume, state_from_json, state_to_json, tick
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.clock import FakeClock
from telecare.events import DeviceType, Event, EventType
from telecare.people import CarePlan, Device, Resident

UTC = timezone.utc
T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 02:00 in Madrid (CET)
GW = Device("gw1", DeviceType.GATEWAY, "gw1", "r1")
PENDANT = Device("pd1", DeviceType.PENDANT, "gw1", "r1")
BED = Device("bs1", DeviceType.BED_SENSOR, "gw1", "r1")
MOTION = Device("ms1", DeviceType.MOTION_SENSOR, "gw1", "r1")
DISPENSER = Device("md1", DeviceType.MEDICATION_DISPENSER, "gw1", "r1")
FALL = Device("fs1", DeviceType.FALL_SENSOR, "gw1", "r1")
SENSORS = [PENDANT, BED, MOTION, DISPENSER, FALL]  # no gateway: its 5-minute supervision would fire in most tests


def resident(at_home: bool = True, **plan) -> Resident:
    return Resident("r1", "Test Resident", at_home=at_home, care_plan=CarePlan(**plan))


class Harness:
    """Keeps one resident's state and a FakeClock; every call returns the triggers produced."""

    def __init__(self, who: Resident | None = None, devices=None, start: datetime = T0) -> None:
        self.resident = who or resident()
        self.devices = list(SENSORS if devices is None else devices)
        self.clock = FakeClock(start)
        self.state = new_state(self.resident.id)
        self.tick()  # first load: arms supervision, inactivity and dose timers from now

    def event(self, type_: EventType, device: Device = PENDANT, *, ts: datetime | None = None,
              battery: int | None = None) -> list[AlertTrigger]:
        now = self.clock.now()
        ev = Event(uuid4(), device.gateway_id, device.id, self.resident.id, type_, ts or now, now,
                   uuid4().hex, battery)
        self.state, out = evaluate(ev, self.resident, self.devices, self.state, now)
        self.last_event = ev
        return out

    def tick(self) -> list[AlertTrigger]:
        self.state, out = tick(self.resident, self.devices, self.state, self.clock.now())
        return out

    def advance(self, delta: timedelta) -> list[AlertTrigger]:
        self.clock.advance(delta)
        return self.tick()

    def restart(self) -> None:
        """What a process restart does to the state: a JSON round trip."""
        self.state = state_from_json(state_to_json(self.state))


def of(triggers: list[AlertTrigger], kind: AlertType) -> list[AlertTrigger]:
    return [t for t in triggers if t.type is kind]


def test_help_button_raises_critical_alert_with_local_time():
    h = Harness()
    [trig] = h.event(EventType.HELP_BUTTON)
    assert trig.type is AlertType.HELP_BUTTON and trig.severity is Severity.CRITICAL
    assert trig.reason == "Help button pressed at 02:00" and trig.device_id == "pd1"
    assert (trig.template, trig.params) == ("Help button pressed at {time}", (("time", "02:00"),))
    assert trig.event_id == h.last_event.id and trig.at == T0 and trig.delayed is False


def test_fall_raises_critical_alert():
    h = Harness()
    [trig] = h.event(EventType.FALL, FALL)
    assert (trig.type, trig.severity, trig.device_id) == (AlertType.FALL, Severity.CRITICAL, "fs1")


def test_dispenser_missed_dose_raises_medium_alert():
    h = Harness()
    [trig] = h.event(EventType.MEDICATION_MISSED, DISPENSER)
    assert (trig.type, trig.severity) == (AlertType.MEDICATION_MISSED, Severity.MEDIUM)
    assert trig.reason == "Dispenser reported a missed dose at 02:00"


def test_tamper_raises_nothing_but_counts_as_seen():
    h = Harness()
    h.clock.advance(timedelta(hours=20))
    assert h.event(EventType.TAMPER, PENDANT) == []
    assert h.state.last_seen["pd1"] == h.clock.now()
    pendant = [t for t in h.advance(timedelta(hours=24)) if t.device_id == "pd1"]
    assert pendant == []  # 44 h after start, but only 24 h after the tamper message
    assert [t.device_id for t in h.advance(timedelta(hours=1, seconds=1))] == ["pd1"]


def test_delayed_event_gives_delayed_trigger():
    h = Harness()
    [late] = h.event(EventType.HELP_BUTTON, ts=T0 - timedelta(minutes=10))
    [live] = h.event(EventType.FALL, FALL, ts=T0 - timedelta(seconds=30))
    assert late.delayed is True and late.at == T0 - timedelta(minutes=10)
    assert live.delayed is False


def test_bed_exit_at_night_without_return_fires_from_the_clock():
    h = Harness()
    assert h.event(EventType.BED_EXIT, BED) == []
    assert next_due(h.state) == T0 + timedelta(minutes=30)
    assert of(h.advance(timedelta(minutes=29, seconds=59)), AlertType.BED_EXIT_NO_RETURN) == []
    [trig] = h.advance(timedelta(seconds=1))  # no new event: the tick alone fires it
    assert (trig.type, trig.severity) == (AlertType.BED_EXIT_NO_RETURN, Severity.HIGH)
    assert trig.reason == "Bed exit at 02:00, no return after 30 min"
    assert (trig.template, trig.params) == ("Bed exit at {time}, no return after {minutes} min",
                                            (("minutes", "30"), ("time", "02:00")))
    assert trig.at == T0 + timedelta(minutes=30) and trig.device_id == "bs1" and not trig.delayed
    assert h.advance(timedelta(minutes=1)) == []  # fires once


def test_bed_exit_outside_night_window_raises_nothing():
    h = Harness(start=datetime(2026, 11, 22, 11, 0, tzinfo=UTC))  # 12:00 local
    h.event(EventType.BED_EXIT, BED)
    assert of(h.advance(timedelta(hours=2)), AlertType.BED_EXIT_NO_RETURN) == []


def test_bed_return_in_time_raises_nothing():
    h = Harness()
    h.event(EventType.BED_EXIT, BED)
    h.clock.advance(timedelta(minutes=25))
    assert h.event(EventType.BED_RETURN, BED) == []
    assert of(h.advance(timedelta(hours=1)), AlertType.BED_EXIT_NO_RETURN) == []


def test_bed_rule_uses_care_plan_window_and_threshold():
    h = Harness(resident(night_start=time(23, 0), night_end=time(1, 30), bed_return_minutes=10))
    h.event(EventType.BED_EXIT, BED)  # 02:00 local: after this resident's night
    assert of(h.advance(timedelta(hours=1)), AlertType.BED_EXIT_NO_RETURN) == []
    h.clock.set(datetime(2026, 11, 22, 23, 30, tzinfo=UTC))  # 00:30 local
    h.event(EventType.BED_EXIT, BED)
    [trig] = of(h.advance(timedelta(minutes=10)), AlertType.BED_EXIT_NO_RETURN)
    assert trig.reason == "Bed exit at 00:30, no return after 10 min"


def test_late_bed_exit_whose_window_expired_fires_at_once_delayed():
    h = Harness()
    [trig] = h.event(EventType.BED_EXIT, BED, ts=T0 - timedelta(minutes=45))
    assert trig.type is AlertType.BED_EXIT_NO_RETURN and trig.delayed is True
    assert trig.at == T0 - timedelta(minutes=15) and trig.reason == "Bed exit at 01:15, no return after 30 min"
    assert of(h.advance(timedelta(minutes=40)), AlertType.BED_EXIT_NO_RETURN) == []


def test_late_bed_exit_with_known_return_in_between_raises_nothing():
    h = Harness()
    h.event(EventType.BED_RETURN, BED, ts=T0 - timedelta(minutes=35))  # the return overtook the exit
    assert h.event(EventType.BED_EXIT, BED, ts=T0 - timedelta(minutes=45)) == []
    assert of(h.advance(timedelta(hours=1)), AlertType.BED_EXIT_NO_RETURN) == []


def test_late_bed_exit_still_in_window_fires_later_flagged_delayed():
    h = Harness()
    assert h.event(EventType.BED_EXIT, BED, ts=T0 - timedelta(minutes=5)) == []
    [trig] = of(h.advance(timedelta(minutes=25)), AlertType.BED_EXIT_NO_RETURN)
    assert trig.delayed is True


def test_restart_neither_loses_nor_double_fires_a_timer():
    h = Harness()
    h.event(EventType.BED_EXIT, BED)
    h.restart()
    assert h.advance(timedelta(minutes=10)) == []
    h.restart()
    [trig] = h.advance(timedelta(minutes=20))
    assert trig.type is AlertType.BED_EXIT_NO_RETURN
    h.restart()
    assert h.tick() == [] and h.advance(timedelta(minutes=5)) == []


def test_timer_due_during_downtime_fires_once_at_first_tick_after_restart():
    h = Harness()
    h.event(EventType.BED_EXIT, BED)
    saved = state_to_json(h.state)
    h.clock.advance(timedelta(hours=3))  # the service is down
    h.state = state_from_json(saved)
    [trig] = of(h.tick(), AlertType.BED_EXIT_NO_RETURN)
    assert trig.at == T0 + timedelta(minutes=30) and trig.delayed is True  # late, and says so
    assert of(h.tick(), AlertType.BED_EXIT_NO_RETURN) == []


def test_state_json_round_trip_is_lossless():
    h = Harness(resident(dose_times=(time(9, 0),)), devices=[GW, *SENSORS])
    h.event(EventType.BED_EXIT, BED)
    h.event(EventType.HEARTBEAT, PENDANT, battery=5)
    h.event(EventType.BED_RETURN, BED)
    assert state_from_json(state_to_json(h.state)) == h.state


def test_low_battery_alerts_once_per_episode():
    h = Harness()
    assert h.event(EventType.HEARTBEAT, PENDANT, battery=50) == []
    [trig] = h.event(EventType.HEARTBEAT, PENDANT, battery=15)
    assert (trig.type, trig.severity) == (AlertType.LOW_BATTERY, Severity.TECHNICAL)
    assert trig.reason == "Low battery on Pendant pd1 (15%)"
    # The page says the device type in its language (telecareUI.term): the params carry the type, not "Pendant".
    assert (trig.template, dict(trig.params)) == ("Low battery on {device} {device_id}{level}",
                                                  {"device": "pendant", "device_id": "pd1", "level": " (15%)"})
    assert h.event(EventType.HEARTBEAT, PENDANT, battery=14) == []
    assert h.event(EventType.LOW_BATTERY, PENDANT, battery=13) == []
    [cleared] = h.event(EventType.HEARTBEAT, PENDANT, battery=20)  # recovered (>= threshold): the alert closes
    assert (type(cleared).__name__, cleared.type) == ("AlertClear", AlertType.LOW_BATTERY)
    assert h.event(EventType.HEARTBEAT, PENDANT, battery=21) == []  # once per recovery
    assert len(h.event(EventType.HEARTBEAT, PENDANT, battery=10)) == 1  # a new episode


def test_low_battery_event_and_care_plan_threshold():
    h = Harness(resident(low_battery_percent=30))
    [event_alert] = h.event(EventType.LOW_BATTERY, MOTION)
    assert event_alert.reason == "Low battery on Motion sensor ms1"
    [below] = h.event(EventType.HEARTBEAT, BED, battery=25)
    assert below.device_id == "bs1"


def test_gateway_supervision_and_once_per_silence():
    h = Harness(devices=[GW, PENDANT])
    assert h.advance(timedelta(minutes=4, seconds=59)) == []
    [off] = h.advance(timedelta(seconds=1))
    assert (off.type, off.severity, off.device_id) == (AlertType.DEVICE_OFFLINE, Severity.TECHNICAL, "gw1")
    assert off.reason == "Gateway gw1 silent since 02:00"
    assert (off.template, dict(off.params)) == ("{device} {device_id} silent since {time}",
                                                {"device": "gateway", "device_id": "gw1", "time": "02:00"})
    assert h.advance(timedelta(minutes=30)) == []  # once per silence
    h.event(EventType.HEARTBEAT, GW)
    assert h.advance(timedelta(minutes=4)) == []
    assert [t.device_id for t in h.advance(timedelta(minutes=1))] == ["gw1"]  # a new silence


def test_event_relayed_by_gateway_counts_as_gateway_seen():
    h = Harness(devices=[GW, MOTION])
    for _ in range(3):
        h.clock.advance(timedelta(minutes=4))
        h.event(EventType.MOTION, MOTION)
    assert h.state.last_seen["gw1"] == h.clock.now()
    assert of(h.advance(timedelta(minutes=4)), AlertType.DEVICE_OFFLINE) == []


def test_supervision_interval_per_device_type():
    intervals = {DeviceType.GATEWAY: timedelta(minutes=5), DeviceType.PENDANT: timedelta(hours=25),
                 DeviceType.FALL_SENSOR: timedelta(hours=25), DeviceType.BED_SENSOR: timedelta(hours=25),
                 DeviceType.MEDICATION_DISPENSER: timedelta(hours=25),
                 DeviceType.MOTION_SENSOR: timedelta(hours=25), DeviceType.DOOR_SENSOR: timedelta(hours=25)}
    for kind, interval in intervals.items():
        dev = Device("d1", kind, "d1" if kind is DeviceType.GATEWAY else "gw1", "r1")
        h = Harness(resident(at_home=False), devices=[dev])
        h.clock.advance(timedelta(minutes=1))
        h.event(EventType.HEARTBEAT, dev)
        assert h.advance(interval - timedelta(seconds=1)) == [], kind
        [off] = h.advance(timedelta(seconds=1))
        assert off.type is AlertType.DEVICE_OFFLINE and off.device_id == "d1", kind


def test_new_device_supervised_from_first_load_and_removed_device_forgotten():
    h = Harness(resident(at_home=False), devices=[PENDANT])
    h.clock.advance(timedelta(hours=10))
    h.devices.append(MOTION)  # paired later: its silence counts from now, not from the start
    h.tick()
    assert [t.device_id for t in h.advance(timedelta(hours=15))] == ["pd1"]
    h.devices.remove(MOTION)
    assert h.advance(timedelta(hours=11)) == []


def test_gateway_offline_status_alerts_at_once_and_not_again_from_supervision():
    h = Harness(devices=[GW])
    h.clock.advance(timedelta(minutes=1))
    h.event(EventType.HEARTBEAT, GW)
    [off] = h.event(EventType.GATEWAY_OFFLINE, GW)
    assert off.type is AlertType.DEVICE_OFFLINE and off.reason == "Gateway gw1 reported offline at 02:01"
    assert h.advance(timedelta(minutes=10)) == []  # the supervision timer knows this silence is reported
    assert h.event(EventType.GATEWAY_OFFLINE, GW) == []
    h.event(EventType.GATEWAY_ONLINE, GW)
    assert len(h.event(EventType.GATEWAY_OFFLINE, GW)) == 1  # a new outage


def test_resume_after_restart_counts_device_silence_from_restart_but_keeps_other_timers():
    h = Harness(resident(at_home=False), devices=[PENDANT, BED])
    h.event(EventType.BED_EXIT, BED)
    h.event(EventType.HEARTBEAT, PENDANT)
    saved = state_to_json(h.state)
    h.clock.advance(timedelta(hours=24, minutes=30))  # down: heartbeats sent meanwhile were never seen
    h.state = resume(state_from_json(saved), h.clock.now())
    assert [t.type for t in h.tick()] == [AlertType.BED_EXIT_NO_RETURN]  # came due while down: fires once
    assert h.advance(timedelta(hours=24, minutes=59)) == []
    assert sorted(t.device_id for t in h.advance(timedelta(minutes=1))) == ["bs1", "pd1"]
