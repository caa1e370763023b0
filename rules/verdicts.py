"""Verdict identity: the key under which a replayed verdict is the same verdict (Kafka rules hosts, their consumers)."""
from __future__ import annotations

from telecare.alerts import AlertClear, AlertTrigger


def verdict_key(verdict: AlertTrigger | AlertClear) -> str:
    """Same input, same key: an event's verdict is keyed by its event id, a timer's by (resident, rule, deadline).

    A host that evaluates an event twice (redelivered after a crash or a rebalance), or fires a timer whose
    fired state it had not saved yet, emits a verdict with the same key; the alert writer applies each key once.
    """
    if isinstance(verdict, AlertClear):
        return f"clear|{verdict.resident_id}|{verdict.type.value}|{verdict.at.timestamp()}|{verdict.device_id or ''}"
    if verdict.event_id is not None:
        return f"event|{verdict.resident_id}|{verdict.type.value}|{verdict.event_id}"
    # A timer's trigger has at = its deadline (rules/engine.py _timer_trigger): stable across a refire.
    return f"timer|{verdict.resident_id}|{verdict.type.value}|{verdict.at.timestamp()}|{verdict.device_id or ''}"
