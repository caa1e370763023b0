"""EventSink.store against real PostgreSQL: keys claimed (COPY, or one statement after a conflict), rows as given."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ingest.normalize import event_id
from ingest.sink import EventSink
from telecare.events import Event, EventType, Rejected
from telecare.store import Database

NOW = datetime.now(timezone.utc).replace(microsecond=123456)


def event(msg_id: str, *, kind: EventType = EventType.MOTION, battery: int | None = None, value: object = None,
          gateway: str = "gw-1", ts: datetime = NOW) -> Event:
    return Event(event_id(gateway, msg_id), gateway, "dv-1", "r-1", kind, ts, NOW, msg_id, battery, value)


async def test_values_round_trip_exactly_and_none_is_sql_null(db: Database) -> None:
    odd = {"nested": [1, 2.5, None, True, "é \u2028 \"q\""], "big": 2 ** 70, "neg": -0.0, "": {}}
    # A non-UTC offset is the same instant; the column stores instants.
    other_zone = (NOW - timedelta(minutes=3)).astimezone(timezone(timedelta(hours=2)))
    events = [event("a", battery=0, value=odd), event("b", battery=100, value="text"), event("c"),
              event("d", value=[]), event("e", ts=other_zone)]
    result = await EventSink(db).store(events, [])
    assert result.new == tuple(events) and result.duplicates == 0 and result.rejected == ()
    rows = {r["msg_id"]: r for r in await db.fetch("SELECT * FROM events")}
    assert rows["a"]["value"] == odd and rows["a"]["battery"] == 0
    assert rows["b"]["value"] == "text" and rows["b"]["battery"] == 100
    assert rows["c"]["value"] is None and rows["c"]["battery"] is None
    assert rows["d"]["value"] == []
    assert rows["e"]["ts"] == other_zone
    for e in events:
        row = rows[e.msg_id]
        assert (row["id"], row["ts"], row["received_at"], row["gateway_id"], row["device_id"], row["resident_id"],
                row["type"]) == (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value)
    keys = await db.fetch("SELECT gateway_id, msg_id, received_at FROM event_keys ORDER BY msg_id")
    assert [(k["gateway_id"], k["msg_id"], k["received_at"]) for k in keys] == [("gw-1", m, NOW) for m in "abcde"]


async def test_repeats_in_and_across_batches_are_duplicates_presence_is_never_deduplicated(db: Database) -> None:
    sink = EventSink(db)
    first = await sink.store([event("a"), event("a"), event("b", gateway="gw-2")], [])
    assert [e.msg_id for e in first.new] == ["a", "b"] and first.duplicates == 1
    online = event("status:x", kind=EventType.GATEWAY_ONLINE)
    again = await sink.store([event("c"), event("a"), online, event("b", gateway="gw-2"), online,
                              event("b")], [Rejected("t", b"x", "bad_topic", NOW)])
    assert [e.msg_id for e in again.new] == ["c", "status:x", "status:x", "b"]
    assert again.duplicates == 2 and len(again.rejected) == 1
    assert await db.fetchval("SELECT count(*) FROM events") == 6
    assert await db.fetchval("SELECT count(*) FROM event_keys") == 4  # presence claims no key
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1


async def test_writers_racing_on_the_same_keys_store_each_event_once(db: Database) -> None:
    """The COPY path meets a key another writer holds: one of them falls back to the claim, nothing twice."""
    import asyncio

    sink = EventSink(db)
    await sink.store([event("old")], [])
    batches = [[event(f"k{i}") for i in range(start, start + 300)] + [event("old")] * (start == 0)
               for start in (0, 100, 200)]
    results = await asyncio.gather(*(sink.store(b, []) for b in batches))
    stored = sorted(e.msg_id for r in results for e in r.new)
    assert stored == sorted(f"k{i}" for i in range(500))
    assert sum(r.duplicates for r in results) == 1 + 200 + 200
    assert await db.fetchval("SELECT count(*) FROM events") == 501
    assert await db.fetchval("SELECT count(*) FROM event_keys") == 501
