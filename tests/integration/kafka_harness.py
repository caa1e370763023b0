"""Shared pieces of the Kafka path tests: a seeded fleet, MQTT messages, counts from the tables."""
from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timezone

from devices.registry import Registry
from ingest.topics import device_topic
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.people import Device, DeviceType, Resident
from telecare.store import Database


def fleet(tag: str, homes: int) -> tuple[list[Resident], list[Device]]:
    """`homes` residents r-<tag>-<i>, each with a gateway and a pendant."""
    residents, devices = [], []
    for i in range(homes):
        rid, gw = f"r-{tag}-{i}", f"gw-{tag}-{i}"
        residents.append(Resident(rid, f"Resident {i}"))
        devices += [Device(gw, DeviceType.GATEWAY, gw, rid), Device(f"pd-{tag}-{i}", DeviceType.PENDANT, gw, rid)]
    return residents, devices


async def seed(db: Database, tag: str, homes: int) -> Registry:
    """Register the fleet; the registry ingest looks devices up in."""
    registry = Registry(db)
    await registry.write_batch(*fleet(tag, homes))
    return registry


def heartbeat(tag: str, i: int, homes: int, msg_id: str) -> tuple[str, bytes]:
    """Message i: a heartbeat of gateway i % homes."""
    gw = f"gw-{tag}-{i % homes}"
    body = json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat()}).encode()
    return device_topic(gw, gw, "heartbeat"), body


def help_press(tag: str, home: int, msg_id: str) -> tuple[str, bytes]:
    """A help press of home `home`'s pendant."""
    body = json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat()}).encode()
    return device_topic(f"gw-{tag}-{home}", f"pd-{tag}-{home}", "help_button"), body


def trigger(rid: str, at: datetime | None = None, event_id: uuid.UUID | None = None) -> AlertTrigger:
    """A help-button trigger as the rules would send it."""
    return AlertTrigger(rid, AlertType.HELP_BUTTON, Severity.CRITICAL, at or datetime.now(timezone.utc),
                        "Help button pressed", event_id=event_id or uuid.uuid4())


async def stored_msg_ids(db: Database, tag: str) -> Counter:
    """msg_id -> rows in the events table, for this test's gateways."""
    rows = await db.fetch("SELECT msg_id FROM events WHERE gateway_id LIKE %s", (f"gw-{tag}-%",))
    return Counter(r["msg_id"] for r in rows)


async def alerts_per_resident(db: Database, tag: str) -> Counter:
    """resident -> alert rows (help_button), for this test's residents."""
    rows = await db.fetch("SELECT resident_id FROM alerts WHERE resident_id LIKE %s", (f"r-{tag}-%",))
    return Counter(r["resident_id"] for r in rows)


def tally(sent: list[str] | set[str], stored: Counter) -> dict[str, int]:
    """sent / stored / lost / duplicated."""
    sent = set(sent)
    return {"sent": len(sent), "stored": len(set(stored) & sent), "lost": len(sent - set(stored)),
            "duplicated": sum(n - 1 for n in stored.values() if n > 1)}
