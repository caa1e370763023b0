"""An alert sink behind a bus that can be down: the real store, or BusError while `down`."""
from __future__ import annotations

from typing import Any

from telecare.errors import BusError


class FlakySink:
    """Wraps an AlertStore for the raises outreach makes; counts what it was asked (`tried`)."""

    def __init__(self, store: Any) -> None:
        self.store, self.down, self.tried = store, False, 0

    async def raise_or_attach(self, trigger: Any, now: Any) -> Any:
        """BusError while down (as BusVerdictSink past its publish deadline), else the store's raise."""
        self.tried += 1
        if self.down:
            raise BusError("alert-triggers: no broker answered in 30 s")
        return await self.store.raise_or_attach(trigger, now)

    async def clear(self, clear: Any, now: Any) -> Any:
        """The store's clear."""
        return await self.store.clear(clear, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
