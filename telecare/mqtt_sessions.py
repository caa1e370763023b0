"""Several MQTT subscriber sessions behind one start/stop/ack face (ingest's alarm and main sessions)."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol


class Subscriber(Protocol):
    """What MqttSessions needs of a session (telecare.mqtt.MqttSubscriber, or a fake)."""

    connected: bool

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def ack(self, token: Any) -> None: ...


class MqttSessions:
    """Start in order, stop all, route each ack to the session that received the message."""

    def __init__(self, sessions: Sequence[Subscriber]) -> None:
        self._sessions = list(sessions)

    @property
    def connected(self) -> bool:
        """True while every session is connected."""
        return all(s.connected for s in self._sessions)

    async def start(self) -> None:
        """Start the sessions one after the other (the first one is subscribed before the next starts)."""
        started: list[Subscriber] = []
        try:
            for session in self._sessions:
                await session.start()
                started.append(session)
        except BaseException:
            await asyncio.gather(*(s.stop() for s in started), return_exceptions=True)
            raise

    async def stop(self) -> None:
        """Disconnect every session; unacked messages stay queued in each persistent session."""
        await asyncio.gather(*(s.stop() for s in self._sessions))

    def ack(self, token: Any) -> None:
        """Acknowledge through the session whose token this is (the token names its session first)."""
        if token is not None:
            token[0].ack(token)
