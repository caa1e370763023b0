"""Where resident rule states live: the RuleStateStore protocol, the rule_state table's one writer, a fake."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from rules.model import ResidentState, state_from_dict, states_from_json, states_to_json
from telecare.errors import InvalidInput, StoreError
from telecare.store import Database

log = logging.getLogger(__name__)

# One round trip for a whole batch: the rows travel as one JSON array of [resident_id, state] pairs, encoded
# by msgspec (states_to_json) and unpacked server-side.
_UPSERT = """
INSERT INTO rule_state (resident_id, state, updated_at)
SELECT row->>0, row->1, %s FROM jsonb_array_elements(%s::jsonb) AS row
ON CONFLICT (resident_id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
"""
LOAD_CHUNK = 20_000  # states decoded per step of load_all (each row is read as text, decoded by msgspec)


class RuleStateStore(Protocol):
    """What the runner needs to keep timers across restarts: load every state at start, save changed ones."""

    async def load_all(self) -> dict[str, ResidentState]:
        """Every stored state by resident id (unreadable ones skipped)."""
        ...

    async def save_many(self, states: Iterable[ResidentState], now: datetime) -> int:
        """Upsert these states; return how many were written (StoreError when the store is down)."""
        ...


class PgRuleStateStore:
    """The rule_state table's one writer: persists ResidentState so timers survive restarts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load_all(self) -> dict[str, ResidentState]:
        """Every stored state by resident id; a row that cannot be read is logged and skipped."""
        rows = await self._db.fetch("SELECT resident_id, state::text AS state FROM rule_state")
        states: dict[str, ResidentState] = {}
        for start in range(0, len(rows), LOAD_CHUNK):
            chunk = rows[start:start + LOAD_CHUNK]
            try:
                decoded: list[ResidentState | None] = list(states_from_json(r["state"] for r in chunk))
            except (KeyError, TypeError, ValueError):
                decoded = [self._one(r) for r in chunk]  # find the unreadable ones, keep the others
            states.update((r["resident_id"], s) for r, s in zip(chunk, decoded) if s is not None)
        return states

    @staticmethod
    def _one(row: dict[str, Any]) -> ResidentState | None:
        try:
            return states_from_json([row["state"]])[0]
        except (KeyError, TypeError, ValueError) as err:
            # A corrupt row must not stop the rules: that resident starts afresh (timers re-armed).
            log.error("unreadable rule state for resident %s: %s", row["resident_id"], type(err).__name__)
            return None

    async def load(self, resident_id: str) -> ResidentState | None:
        """One resident's stored state, or None."""
        data = await self._db.fetchval("SELECT state FROM rule_state WHERE resident_id = %s", (resident_id,))
        if data is None:
            return None
        try:
            return state_from_dict(data)
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInput(f"unreadable rule state for resident {resident_id}") from err

    async def save_many(self, states: Iterable[ResidentState], now: datetime) -> int:
        """Upsert these states in one statement; return how many were written."""
        batch = list(states)
        if batch:
            # Not durable (docs/performance.md): a save lost in a crash only means an older state at the next
            # start, and replay from the older progress re-sends verdicts that attach to the active alert.
            async with self._db.transaction(durable=False) as tx:
                await tx.execute(_UPSERT, (now, states_to_json(batch).decode()))
        return len(batch)

    async def delete(self, resident_id: str) -> None:
        """Forget a resident's state (erasure on request)."""
        await self._db.execute("DELETE FROM rule_state WHERE resident_id = %s", (resident_id,))


class InMemoryRuleStateStore:
    """RuleStateStore in a dict, for orchestration tests; `failing` makes every save raise StoreError."""

    def __init__(self, states: dict[str, ResidentState] | None = None) -> None:
        self.states: dict[str, ResidentState] = dict(states or {})
        self.failing = False

    async def load_all(self) -> dict[str, ResidentState]:
        """A copy of every stored state."""
        return dict(self.states)

    async def load(self, resident_id: str) -> ResidentState | None:
        """One resident's stored state, or None."""
        return self.states.get(resident_id)

    async def save_many(self, states: Iterable[ResidentState], now: datetime) -> int:
        """Store these states (or raise StoreError while `failing`)."""
        if self.failing:
            raise StoreError("rule state store unavailable (fake)")
        batch = list(states)
        self.states.update({s.resident_id: s for s in batch})
        return len(batch)


async def erase_resident(tx: Any, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """GDPR erasure: forget the resident's rule state (timers, last seen), inside the erasure's transaction."""
    gone = await tx.execute("DELETE FROM rule_state WHERE resident_id = %s", (resident_id,))
    return [("rule_state", "deleted", gone, [])]
