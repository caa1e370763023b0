"""The rule runner's adapters, handed in by the composition root: PostgreSQL ones, or in-memory fakes for tests."""
from __future__ import annotations

from dataclasses import dataclass

from rules.progress import (
    InMemoryProgressStore, InMemoryStoredEvents, PgProgressStore, PgStoredEvents, ProgressStore, StoredEvents,
)
from rules.state import InMemoryRuleStateStore, PgRuleStateStore, RuleStateStore
from telecare.store import Database


@dataclass(frozen=True, slots=True)
class RuleStores:
    """Where rule states and progress are kept, and where stored events are replayed from."""

    states: RuleStateStore
    progress: ProgressStore
    events: StoredEvents


def pg_rule_stores(db: Database) -> RuleStores:
    """The rule_state and rules_progress tables, and the events table as the replay source."""
    return RuleStores(PgRuleStateStore(db), PgProgressStore(db), PgStoredEvents(db))


@dataclass(frozen=True, slots=True)
class InMemoryRuleStores(RuleStores):
    """The in-memory fakes, typed as such so a test can reach their knobs (`failing`, `store()`)."""

    states: InMemoryRuleStateStore
    progress: InMemoryProgressStore
    events: InMemoryStoredEvents


def in_memory_rule_stores() -> InMemoryRuleStores:
    """Fresh, empty in-memory stores."""
    return InMemoryRuleStores(InMemoryRuleStateStore(), InMemoryProgressStore(), InMemoryStoredEvents())
