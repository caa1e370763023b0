"""Applies rules verdicts from `alert-triggers` to the alert store once each: a replayed verdict changes nothing.

The topic is delivered at least once (a crash or rebalance redelivers what was processed since the last
commit), so each verdict is keyed — (resident, type, event id), (resident, type, timer deadline) or
(resident, type, clear time) — in alert_trigger_keys, this module's table, claimed in the same transaction
as the alert change. A replay finds its key and republishes what it produced if that still holds.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.store import AlertStore
from telecare.alerts import ACTIVE_STATUSES, AlertChange, AlertChangeKind, AlertClear, AlertStatus, AlertTrigger
from telecare.store import Database

# Longer than the topic keeps messages (Kafka default 7 days): a new group reads from the oldest kept one.
KEY_RETENTION = timedelta(days=8)

_CLAIM = """INSERT INTO alert_trigger_keys (resident_id, type, ref, seen_at) VALUES (%s, %s, %s, %s)
            ON CONFLICT DO NOTHING RETURNING true"""
_RESULT = "UPDATE alert_trigger_keys SET alert_id = %s, change = %s WHERE resident_id = %s AND type = %s AND ref = %s"
_PRIOR = "SELECT alert_id, change FROM alert_trigger_keys WHERE resident_id = %s AND type = %s AND ref = %s"


def verdict_ref(verdict: AlertTrigger | AlertClear) -> str:
    """The verdict's identity within (resident, type): its event, or its time (timer deadline, clear time)."""
    if isinstance(verdict, AlertClear):
        return f"c:{verdict.at.isoformat()}|{verdict.device_id or ''}"
    if verdict.event_id is not None:
        return f"e:{verdict.event_id}"
    # A timer's trigger has at = its deadline (rules/engine.py): the same on a refire; per device, as rules key it.
    return f"t:{verdict.at.isoformat()}|{verdict.device_id or ''}"


@dataclass(frozen=True, slots=True)
class Applied:
    """What one verdict did: the change to publish (None: nothing to say), and whether it was a replay."""

    change: AlertChange | None
    replay: bool


class TriggerApplier:
    """Raise-or-attach / clear through the AlertStore, once per verdict key; publishes the resulting change."""

    def __init__(self, db: Database, store: AlertStore) -> None:
        self._db, self._store = db, store

    async def apply(self, verdict: AlertTrigger | AlertClear, now: datetime) -> Applied:
        """Apply (first time) or recognise (replay) a verdict, then publish its change on `alerts`."""
        return (await self.apply_many([verdict], now))[0]

    async def apply_many(self, verdicts: Sequence[AlertTrigger | AlertClear], now: datetime) -> list[Applied]:
        """Verdicts in order in ONE transaction (a refused one rolls the lot back: StoreError), then their
        changes published on `alerts` in order, pipelined. Far fewer round trips than one by one."""
        async with self._db.transaction() as tx:
            steps = [await self._claim_and_apply(tx, v, now) for v in verdicts]
        results: list[Applied] = []
        for verdict, (row, prior) in zip(verdicts, steps):
            if prior is not None:
                results.append(Applied(await self._still_holds(prior), replay=True))
            elif row is None:
                results.append(Applied(None, replay=False))  # a clear with no active technical alert
            else:
                change = self._store.cleared(verdict, row) if isinstance(verdict, AlertClear) \
                    else self._store.counted(row)
                results.append(Applied(change, replay=False))
        await self._store.announce_many([r.change for r in results if r.change is not None])
        return results

    async def _claim_and_apply(self, tx: Any, verdict: AlertTrigger | AlertClear,
                               now: datetime) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the changed alert row, None) the first time; (None, what the key recorded) on a replay."""
        key = (verdict.resident_id, verdict.type.value, verdict_ref(verdict))
        if not await tx.fetchval(_CLAIM, (*key, now)):
            return None, await tx.fetchrow(_PRIOR, key)
        if isinstance(verdict, AlertClear):
            row = await self._store.close_cleared(tx, verdict, now)
            kind = AlertChangeKind.RESOLVED
        else:
            row = await self._store.upsert(tx, verdict, now)
            kind = AlertChangeKind.RAISED if row["inserted"] else AlertChangeKind.UPDATED
        if row is not None:
            await tx.execute(_RESULT, (row["id"], kind.value, *key))
        return row, None

    async def _still_holds(self, prior: dict[str, Any]) -> AlertChange | None:
        """A replay: the first run may have crashed between its commit and its publish, so say it again if it
        still holds (the alert still active after a raise, still resolved after a clear). Readers dedupe by id."""
        if prior["alert_id"] is None:
            return None
        alert = await self._store.get(prior["alert_id"])
        kind = AlertChangeKind(prior["change"])
        holds = alert.status is AlertStatus.RESOLVED if kind is AlertChangeKind.RESOLVED \
            else alert.status in ACTIVE_STATUSES
        return AlertChange(kind, alert) if holds else None

    async def prune(self, now: datetime) -> int:
        """Forget keys older than KEY_RETENTION; return how many."""
        return await self._db.execute("DELETE FROM alert_trigger_keys WHERE seen_at < %s", (now - KEY_RETENTION,))
