"""telecare.mqtt against a real broker: publish/ack, persistent sessions, wills."""
from __future__ import annotations

import uuid

import pytest

from telecare.errors import BrokerError
from telecare.events import RawMessage
from telecare.mqtt import MqttPublisher, MqttSubscriber, end_session
from tests.conftest import eventually


def _ids() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"test/{tag}", tag


async def test_publish_is_received_and_acked(mqtt_url: str) -> None:
    root, tag = _ids()
    got: list[RawMessage] = []
    sub = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], got.append, persistent=False)
    await sub.start()
    pub = MqttPublisher(mqtt_url, f"pub-{tag}")
    await pub.connect()
    await pub.publish(f"{root}/a", b"one")
    for i in range(50):
        pub.publish_nowait(f"{root}/b", str(i).encode())
    await pub.wait_all_published(5)
    await eventually(lambda: len(got) == 51)
    assert got[0].topic == f"{root}/a" and got[0].payload == b"one"
    assert [m.payload for m in got[1:]] == [str(i).encode() for i in range(50)]
    assert got[0].received_at.tzinfo is not None
    for m in got:
        sub.ack(m.ack_token)
    await pub.disconnect()
    await sub.stop()


async def test_unacked_messages_are_redelivered_to_persistent_session(mqtt_url: str) -> None:
    root, tag = _ids()
    first: list[RawMessage] = []
    sub = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], first.append)
    await sub.start()
    pub = MqttPublisher(mqtt_url, f"pub-{tag}")
    await pub.connect()
    await pub.publish(f"{root}/x", b"kept")
    await eventually(lambda: len(first) == 1)
    await sub.stop()  # never acked
    await pub.publish(f"{root}/x", b"queued while away")

    second: list[RawMessage] = []
    sub2 = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], second.append)
    await sub2.start()
    await eventually(lambda: {m.payload for m in second} >= {b"kept", b"queued while away"})
    for m in second:
        sub2.ack(m.ack_token)
    await sub2.stop()
    await pub.disconnect()
    # A clean-start session discards what was left.
    third = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], lambda m: None, persistent=False)
    await third.start()
    await third.stop()


async def test_drop_publishes_the_will_and_disconnect_does_not(mqtt_url: str) -> None:
    root, tag = _ids()
    got: list[RawMessage] = []
    sub = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/+/status", 1)], got.append, persistent=False)
    await sub.start()
    clean = MqttPublisher(mqtt_url, f"gw-a-{tag}", will=(f"{root}/a/status", b"offline", False))
    await clean.connect()
    await clean.disconnect()
    dropped = MqttPublisher(mqtt_url, f"gw-b-{tag}", will=(f"{root}/b/status", b"offline", False))
    await dropped.connect()
    await dropped.drop()
    await eventually(lambda: any(m.topic == f"{root}/b/status" for m in got))
    assert all(m.topic != f"{root}/a/status" for m in got)
    await sub.stop()


async def test_unreachable_broker_is_a_broker_error() -> None:
    from demo.broker import free_port

    pub = MqttPublisher(f"mqtt://127.0.0.1:{free_port()}", "nobody")
    with pytest.raises(BrokerError):
        await pub.connect()


async def test_skipped_topics_are_acknowledged_unread(mqtt_url: str) -> None:
    root, tag = _ids()
    first: list[RawMessage] = []
    sub = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], first.append,
                         skip=lambda topic: topic.endswith("/skip"))
    await sub.start()
    pub = MqttPublisher(mqtt_url, f"pub-{tag}")
    await pub.connect()
    for _ in range(3):
        await pub.publish(f"{root}/skip", b"held elsewhere")
    await pub.publish(f"{root}/keep", b"kept")
    await eventually(lambda: len(first) == 1)
    assert first[0].payload == b"kept"
    await sub.stop()  # "kept" is unacked, the skipped ones were acked
    second: list[RawMessage] = []
    sub2 = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], second.append)
    await sub2.start()
    await pub.publish(f"{root}/keep", b"sentinel")
    await eventually(lambda: b"sentinel" in {m.payload for m in second})
    assert sorted(m.payload for m in second) == [b"kept", b"sentinel"]  # no skipped one redelivered
    for m in second:
        sub2.ack(m.ack_token)
    await sub2.stop()
    await pub.publish(f"{root}/keep", b"queued for a retired session")
    await end_session(mqtt_url, f"sub-{tag}")  # the session and its queue are gone
    third: list[RawMessage] = []
    sub3 = MqttSubscriber(mqtt_url, f"sub-{tag}", [(f"{root}/#", 1)], third.append)  # resumes, if any
    await sub3.start()
    await pub.publish(f"{root}/keep", b"sentinel 2")
    await eventually(lambda: third)
    assert [m.payload for m in third] == [b"sentinel 2"]
    sub3.ack(third[0].ack_token)
    await sub3.stop()
    await pub.disconnect()
    await end_session(mqtt_url, f"sub-{tag}")
