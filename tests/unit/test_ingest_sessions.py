"""Ingest's MQTT session orchestration with in-memory fakes: filters, start order, ack routing, alarm lane."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from ingest.alarm_lane import AlarmLane
from ingest.topics import ALARM_FILTERS, SUBTREE_FILTER, device_topic, is_alarm_topic, status_topic
from telecare.events import RawMessage
from telecare.mqtt_sessions import MqttSessions


class FakeSession:
    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail
        self.connected = False
        self.acked: list[object] = []

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fail:
            raise RuntimeError("refused")
        self.connected = True

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        self.connected = False

    def ack(self, token: object) -> None:
        self.acked.append(token)


async def test_sessions_start_in_order_and_route_each_ack_to_its_session() -> None:
    log: list[str] = []
    alarms, main = FakeSession("alarms", log), FakeSession("main", log)
    sessions = MqttSessions([alarms, main])
    await sessions.start()
    assert log == ["start alarms", "start main"] and sessions.connected
    sessions.ack((main, 1, 7, 1))
    sessions.ack((alarms, 1, 8, 1))
    sessions.ack(None)
    assert main.acked == [(main, 1, 7, 1)] and alarms.acked == [(alarms, 1, 8, 1)]
    main.connected = False
    assert not sessions.connected
    await sessions.stop()
    assert log[-2:] == ["stop alarms", "stop main"]


async def test_a_session_that_cannot_start_stops_the_ones_already_started() -> None:
    log: list[str] = []
    sessions = MqttSessions([FakeSession("alarms", log), FakeSession("main", log, fail=True)])
    with pytest.raises(RuntimeError):
        await sessions.start()
    assert log == ["start alarms", "start main", "stop alarms"]


def _matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic matching (no $ topics here), to check is_alarm_topic against the filters themselves."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


@pytest.mark.parametrize("topic", [
    device_topic("gw-1", "pd-1", "help_button"), device_topic("gw-1", "fs-1", "fall"), "telecare/v1//x/fall",
    device_topic("gw-1", "gw-1", "heartbeat"), status_topic("gw-1"), "telecare/v1/gw-1",
    "telecare/v1/gw-1/pd-1/help_button/x", "telecare/v2/gw-1/pd-1/help_button", "telecare/v1/gw-1/fall",
])
def test_is_alarm_topic_agrees_with_the_alarm_filters_and_the_subtree_covers_everything(topic: str) -> None:
    assert is_alarm_topic(topic) == any(_matches(f, topic) for f in ALARM_FILTERS)
    assert _matches(SUBTREE_FILTER, topic) == topic.startswith("telecare/v1/")


def _raw(topic: str) -> RawMessage:
    return RawMessage(topic=topic, payload=b"{}", received_at=datetime.now(timezone.utc), ack_token=None)


async def test_the_alarm_lane_hands_alarms_over_at_once_all_that_arrived_together() -> None:
    handled: list[list[str]] = []
    done = asyncio.Event()

    async def handle(batch: list[RawMessage]) -> None:
        handled.append([m.topic for m in batch])
        if len(handled) == 2:
            done.set()

    lane = AlarmLane(handle)
    lane.start()
    lane.put(_raw("a"))
    await asyncio.sleep(0)  # the lane's task runs
    await asyncio.sleep(0)
    lane.put(_raw("b"))
    lane.put(_raw("c"))
    await asyncio.wait_for(done.wait(), 1)
    await lane.stop()
    assert handled == [["a"], ["b", "c"]]


async def test_a_bug_escaping_the_handler_ends_the_lane_loudly_not_quietly() -> None:
    # The handler isolates each message's failure; what escapes it is ingest's own bug. A lane that logged
    # and went on would leave those alarms unacknowledged (stuck at the broker) while looking alive.
    async def handle(batch: list[RawMessage]) -> None:
        raise RuntimeError("a bug")

    lane = AlarmLane(handle)
    task = lane.start()
    lane.put(_raw("a"))
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(task, 1)
