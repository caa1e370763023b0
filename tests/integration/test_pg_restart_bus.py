"""A PostgreSQL restart under the LISTEN/NOTIFY bus: the subscription survives, says what it missed, and heals."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from uuid import uuid4

import pytest

from telecare.bus import EVENTS, FeedGap, FeedState
from telecare.errors import StoreError
from telecare.events import Event, EventType
from telecare.health import Health, PartState
from telecare.pgbus import PostgresBus
from telecare.store import Database
from tests.conftest import eventually
from tests.integration.pgfault import OwnPostgres

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
PART = "bus:events:test"


def _event(n: int) -> Event:
    return Event(uuid4(), "gw-1", "pd-1", "r-1", EventType.HEARTBEAT, NOW, NOW, f"m-{n}")


@pytest.fixture
def own_pg(tmp_root):
    server = OwnPostgres(tmp_root / f"own-pg-bus-{uuid4().hex[:8]}")
    yield server
    server.close()


@pytest.mark.parametrize("mode", ["immediate", "fast"])
async def test_listener_reconnects_reports_and_marks_the_gap(own_pg, mode):
    started = time.monotonic()
    health = Health()
    sub_db = await Database.connect(own_pg.url, min_size=1, max_size=2)
    pub_db = await Database.connect(own_pg.url, min_size=1, max_size=2, acquire_timeout=2.0)
    bus, publisher = PostgresBus(sub_db, health), PostgresBus(pub_db)
    got: list = []

    async def consume() -> None:
        async for message in bus.subscribe(EVENTS, "test", gaps=True):
            got.append(message.value)

    def state() -> PartState | None:
        return next((p.state for p in health.parts() if p.part == PART), None)

    def heard(msg_id: str) -> bool:
        return any(isinstance(v, Event) and v.msg_id == msg_id for v in got)

    async def publish_until_heard(msg_id: str) -> bool:
        if not heard(msg_id):
            try:
                await publisher.publish(EVENTS, "r-1", Event(uuid4(), "gw-1", "pd-1", "r-1", EventType.HEARTBEAT,
                                                            NOW, NOW, msg_id))
            except StoreError:
                return False  # the pool is not back yet: try again
        return heard(msg_id)

    reader = asyncio.create_task(consume())
    try:
        await eventually(lambda: state() is PartState.OK, timeout=10)
        await eventually(lambda: publish_until_heard("before"), timeout=10, interval=0.1)

        await own_pg.stop(mode)
        down_at = time.monotonic()
        await eventually(lambda: state() is PartState.RECONNECTING, timeout=10)
        noticed_s = time.monotonic() - down_at
        lost = [v for v in got if isinstance(v, FeedGap)]
        assert [g.state for g in lost] == [FeedState.LOST]
        assert not health.ok

        t0 = time.monotonic()
        with pytest.raises(StoreError):  # a publisher never hangs on a dead server: it gets our error, in time
            await publisher.publish(EVENTS, "r-1", _event(1))
        publish_failed_s = time.monotonic() - t0
        assert publish_failed_s < 5

        await own_pg.start()
        up_at = time.monotonic()
        await eventually(lambda: state() is PartState.OK, timeout=10)
        listening_s = time.monotonic() - up_at
        await eventually(lambda: publish_until_heard("after"), timeout=10, interval=0.1)
        delivered_s = time.monotonic() - up_at

        gaps = [v for v in got if isinstance(v, FeedGap)]
        assert [g.state for g in gaps] == [FeedState.LOST, FeedState.RESUMED]
        assert gaps[1].lost_at == gaps[0].lost_at
        assert health.ok and not reader.done()  # the subscriber's iterator never ended
        print(f"\n[pg restart -m {mode}] listener noticed in {noticed_s:.2f}s; publish during outage -> StoreError "
              f"in {publish_failed_s:.2f}s; after start: listening in {listening_s:.2f}s, first message delivered "
              f"in {delivered_s:.2f}s; gaps={[g.state.value for g in gaps]}; "
              f"messages={sum(isinstance(v, Event) for v in got)}; total {time.monotonic() - started:.1f}s")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await sub_db.close()
        await pub_db.close()
    assert PART not in {p.part for p in health.parts()}  # a subscription that ended is forgotten
