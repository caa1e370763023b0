"""What each long-lived part of a process reports about itself, so /healthz and the CLI tell the truth."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum


class PartState(StrEnum):
    """A part's state: only OK counts as healthy."""

    STARTING = "starting"
    OK = "ok"
    RECONNECTING = "reconnecting"  # a connection dropped; retrying with back-off
    FAILED = "failed"  # the part's loop died: the process must exit non-zero


@dataclass(frozen=True, slots=True)
class PartHealth:
    """One part's last report."""

    part: str
    state: PartState
    detail: str
    since: datetime


class Health:
    """The process's parts and their states. Parts report; /healthz and the CLI read."""

    def __init__(self) -> None:
        self._parts: dict[str, PartHealth] = {}

    def report(self, part: str, state: PartState, detail: str = "") -> None:
        """Record a part's state (detail is operator-safe text: no personal data)."""
        current = self._parts.get(part)
        if current is not None and current.state == state and current.detail == detail:
            return
        since = datetime.now(timezone.utc) if current is None or current.state != state else current.since
        self._parts[part] = PartHealth(part, state, detail, since)

    def forget(self, part: str) -> None:
        """A part stopped on purpose."""
        self._parts.pop(part, None)

    def parts(self) -> list[PartHealth]:
        """Every part's last report, by name."""
        return [self._parts[k] for k in sorted(self._parts)]

    @property
    def ok(self) -> bool:
        """True when every part reports OK."""
        return all(p.state == PartState.OK for p in self._parts.values())

    def failed(self) -> list[PartHealth]:
        """Parts whose loop died."""
        return [p for p in self._parts.values() if p.state == PartState.FAILED]
