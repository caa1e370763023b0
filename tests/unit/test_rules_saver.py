"""StateSaver: a save in chunks lets events in between, and never records progress past the states it wrote."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from rules import saver as saver_module
from rules.model import ResidentState
from rules.progress import InMemoryProgressStore
from rules.saver import StateSaver
from rules.state import InMemoryRuleStateStore
from telecare.events import Event, EventType

NOW = datetime(2026, 3, 29, 10, tzinfo=timezone.utc)


def event(k: int) -> Event:
    return Event(uuid.uuid4(), "gw", "dv", f"r{k}", EventType.MOTION, NOW, NOW + timedelta(seconds=k), f"m{k}")


class SlowStates(InMemoryRuleStateStore):
    """Records the chunks; `during` runs after the first chunk (an event evaluated mid-save)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[int] = []
        self.during = None

    async def save_many(self, states, now):
        count = await super().save_many(states, now)
        self.chunks.append(count)
        if self.during is not None:
            self.during()
            self.during = None
        return count


async def test_event_evaluated_mid_save_keeps_its_progress_for_the_next_save(monkeypatch) -> None:
    monkeypatch.setattr(saver_module, "SAVE_CHUNK", 2)
    store, progress = SlowStates(), InMemoryProgressStore()
    saver = StateSaver(store, progress)
    states = {f"r{k}": ResidentState(f"r{k}") for k in range(5)}
    for k in range(5):
        saver.changed(f"r{k}", None, states[f"r{k}"])
        saver.progress.seen(event(k))
    covered = saver.progress.current()

    def late_event() -> None:  # evaluated while the save is under way
        states["r9"] = ResidentState("r9")
        saver.changed("r9", None, states["r9"])
        saver.progress.seen(event(9))

    store.during = late_event
    assert await saver.flush(states, NOW) == 5
    assert store.chunks == [2, 2, 1]
    assert progress.saved == covered  # not the late event's: its state is not stored yet
    assert saver.pending == 1
    assert await saver.flush(states, NOW) == 1
    assert "r9" in store.states and progress.saved == saver.progress.current()
    assert progress.saved.processed_through == NOW + timedelta(seconds=9)
