"""One ingest batch: normalise and store it, each message's failure costing that message only (a dead letter)."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from ingest.normalize import needed_ids, normalize
from ingest.sink import EventSink, StoreResult
from ingest.topics import parse_topic
from telecare import metrics
from telecare.errors import BusError, StoreError
from telecare.events import Event, RawMessage, Rejected
from telecare.people import Device, DeviceLookup

log = logging.getLogger("ingest.service")  # one logger for the ingest loop's lines


def is_data_error(err: StoreError) -> bool:
    """The database refused the data itself (SQLSTATE class 22/23), not a passing outage."""
    state = getattr(err.__cause__, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


class BatchPipeline:
    """Registry lookups, normalisation and the sink for one batch; the service adds retries, acks and the bus."""

    def __init__(self, sink: EventSink, lookup: DeviceLookup) -> None:
        self._sink = sink
        self._lookup = lookup

    async def normalize(self, batch: Sequence[RawMessage]) -> list[tuple[RawMessage, Event | Rejected]]:
        """Each message with its Event or Rejected; StoreError when the registry is unreachable."""
        try:
            view = await self._view({i for raw in batch for i in needed_ids(raw.topic)})
        except StoreError:
            raise  # registry unreachable: the caller retries the batch
        except Exception as err:  # noqa: BLE001 - find the message whose lookup fails, keep the others
            metrics.INGEST_INTERNAL_ERRORS.labels("lookup").inc()
            log.error("device lookup for a batch of %d failed (%s); one by one", len(batch), type(err).__name__)
            return [(raw, await self._normalize_alone(raw)) for raw in batch]
        return [(raw, _normalize_one(raw, view)) for raw in batch]

    async def _normalize_alone(self, raw: RawMessage) -> Event | Rejected:
        try:
            view = await self._view(set(needed_ids(raw.topic)))
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001
            return _internal_error(raw, err, "lookup")
        return _normalize_one(raw, view)

    async def _view(self, ids: set[str]) -> dict[str, Device]:
        view: dict[str, Device] = {}
        for device_id in ids:
            device = await self._lookup.device(device_id)
            if device is not None:
                view[device_id] = device
        return view

    async def store(self, results: list[tuple[RawMessage, Event | Rejected]]) -> StoreResult:
        """The whole batch in one transaction (StoreError, or any bug, leaves nothing behind)."""
        return await self._sink.store(*_split(r for _, r in results))

    async def store_one_by_one(self, results: list[tuple[RawMessage, Event | Rejected]],
                                new: list[Event], parked: dict[int, Rejected]) -> StoreResult:
        """Each event alone: one the database refuses, or whose store raises, is dead-lettered; the rest stored.

        `new` and `parked` (indices into the batch) are the caller's, kept across an outage's retries, so
        nothing committed before the outage is stored or dead-lettered twice.
        """
        rejects: list[Rejected] = []
        initial = [(i, r) for i, (_, r) in enumerate(results) if isinstance(r, Rejected)]
        if fresh := [r for i, r in initial if i not in parked]:
            await self._dead_letter(fresh)
        parked.update(initial)
        rejects.extend(r for _, r in initial)
        duplicates = 0
        for index, (raw, event) in enumerate(results):
            if isinstance(event, Rejected):
                continue
            if event in new:
                continue  # committed before a retry
            if index in parked:  # dead-lettered before a retry
                rejects.append(parked[index])
                continue
            try:
                one = await self._sink.store([event], [])
            except StoreError as err:
                if not is_data_error(err):
                    raise
                reason = "unstorable"  # the database answers yet refuses this row: park it and go on
            except BusError:
                raise  # Kafka is down (the Kafka path): an outage, retried like the database's
            except Exception as err:  # noqa: BLE001 - this one message's failure; the others go on
                metrics.INGEST_INTERNAL_ERRORS.labels("store").inc()
                reason = f"internal_error:{type(err).__name__}"
            else:
                new.extend(one.new)
                duplicates += one.duplicates
                continue
            log.error("event %s from gateway %s cannot be stored (%s); dead-lettered", event.id, event.gateway_id,
                      reason)
            bad = Rejected(raw.topic, raw.payload, reason, raw.received_at, event.gateway_id, event.device_id)
            await self._dead_letter([bad])
            parked[index] = bad
            rejects.append(bad)
        return StoreResult(tuple(new), duplicates, tuple(rejects))

    async def _dead_letter(self, rejects: list[Rejected]) -> None:
        """Park rejects; one that even the dead-letter table refuses is logged by ids and dropped."""
        try:
            await self._sink.dead_letter(rejects)
            return
        except StoreError as err:
            if not is_data_error(err):
                raise  # an outage: the batch is retried
        except Exception:  # noqa: BLE001 - handled below, one by one
            pass
        for r in rejects:
            try:
                await self._sink.dead_letter([r])
            except StoreError as err:
                if not is_data_error(err):
                    raise
                self._lost(r, "StoreError")
            except Exception as err:  # noqa: BLE001
                self._lost(r, type(err).__name__)

    def _lost(self, r: Rejected, why: str) -> None:
        metrics.INGEST_INTERNAL_ERRORS.labels("dead_letter").inc()
        log.error("dead letter (%s) from gateway %s device %s not writable (%s); dropped", r.reason,
                  r.gateway_id, r.device_id, why)

    def count(self, result: StoreResult) -> None:
        """Metrics and a log line (ids only) for a stored batch."""
        metrics.INGEST_MESSAGES.labels("accepted").inc(len(result.new))
        metrics.INGEST_MESSAGES.labels("duplicate").inc(result.duplicates)
        metrics.INGEST_MESSAGES.labels("rejected").inc(len(result.rejected))
        for r in result.rejected:
            metrics.INGEST_REJECTIONS.labels(r.reason).inc()
            level = logging.ERROR if r.reason.startswith("internal_error") else logging.INFO
            log.log(level, "rejected message: reason=%s gateway=%s device=%s", r.reason, r.gateway_id, r.device_id)


def _normalize_one(raw: RawMessage, view: dict[str, Device]) -> Event | Rejected:
    try:
        return normalize(raw, view)
    except Exception as err:  # noqa: BLE001 - normalize() never raises by contract; guard the loop anyway
        return _internal_error(raw, err, "normalize")


def _internal_error(raw: RawMessage, err: Exception, stage: str) -> Rejected:
    """A message whose processing raised: dead-lettered with the exception's type (never its text)."""
    metrics.INGEST_INTERNAL_ERRORS.labels(stage).inc()
    parsed = parse_topic(raw.topic)
    gateway_id = getattr(parsed, "gateway_id", None)
    return Rejected(raw.topic, raw.payload, f"internal_error:{type(err).__name__}", raw.received_at,
                    gateway_id, getattr(parsed, "device_id", gateway_id))


def _split(results) -> tuple[list[Event], list[Rejected]]:
    events: list[Event] = []
    rejects: list[Rejected] = []
    for item in results:
        (events if isinstance(item, Event) else rejects).append(item)
    return events, rejects
