"""The Kafka rules host's state saves, off its evaluation loop: pack, publish to `rules-state`, then commit.

A save takes a snapshot (the changed residents' states, which are immutable, and the offsets evaluated so far)
and works on it in its own task, so a help press fetched meanwhile is evaluated and its verdict published
without waiting for ~1,000 states to be encoded and acknowledged. One save at a time, in order: a later save
of a resident never lands before an earlier one. The offsets are committed only after that snapshot's states
were acknowledged (the host published its verdicts before it took the snapshot). A failed save hands its
residents and offsets back to the host for the next save: nothing is committed ahead of what was saved.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from rules.model import ResidentState
from rules.packed import pack_state
from telecare.errors import BusError

log = logging.getLogger(__name__)

ENCODE_CHUNK = 250  # states encoded between two yields to the loop (~2 ms of CPU)
PUBLISH_CHUNK = 5_000  # states per publish (and per publish deadline)

Publish = Callable[[list[tuple[str, bytes]]], Awaitable[None]]
Commit = Callable[[dict[int, int]], Awaitable[bool]]
GiveBack = Callable[[set[str], dict[int, int]], None]
Saved = Callable[[list[tuple[str, ResidentState, bytes]]], None]


class KafkaStateSaver:
    """Runs one save at a time in a task; `wait()` before anything that must see every save done (rebalance)."""

    def __init__(self, publish: Publish, commit: Commit, give_back: GiveBack,
                 saved: Saved = lambda _: None) -> None:
        self._publish, self._commit, self._give_back = publish, commit, give_back
        self._saved = saved  # told each chunk's (resident, state, bytes) once acknowledged: the host keeps the bytes
        self._task: asyncio.Task[None] | None = None
        self.saves = self.failures = 0

    @property
    def busy(self) -> bool:
        """A save is still running (the host lets changes accumulate for the next one)."""
        return self._task is not None and not self._task.done()

    def start(self, states: Mapping[str, ResidentState], offsets: dict[int, int]) -> None:
        """Save this snapshot in the background (the caller checked `busy` first)."""
        if self.busy:
            raise RuntimeError("a rules-state save is already running")
        self._task = asyncio.create_task(self._save(dict(states), dict(offsets)), name="rules-state-save")

    async def wait(self) -> None:
        """Until the running save (if any) has finished, whatever its outcome."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def save_now(self, states: Mapping[str, ResidentState], offsets: dict[int, int]) -> None:
        """Save inline (revocation, shutdown): raises what the publish raises; offsets committed after."""
        await self.wait()
        await self._publish_and_commit(states, offsets)

    async def _save(self, states: dict[str, ResidentState], offsets: dict[int, int]) -> None:
        try:
            await self._publish_and_commit(states, offsets)
        except asyncio.CancelledError:
            self.failures += 1
            raise
        except Exception as err:  # noqa: BLE001 - a failed save (or a bug in one) must not lose the next ones' work
            self.failures += 1
            detail = str(err) if isinstance(err, BusError) else type(err).__name__
            log.error("rules: saving %d states failed (%s); the next save retries them", len(states), detail)
        else:
            self.saves += 1

    async def _publish_and_commit(self, states: Mapping[str, ResidentState], offsets: dict[int, int]) -> None:
        """The states, then the offsets; a failed publish hands both back (and raises), a failed commit the offsets."""
        try:
            await self._publish_all(states)
            committed = not offsets or await self._commit(offsets)
        except BaseException:
            self._give_back(set(states), offsets)
            raise
        if not committed:
            self._give_back(set(), offsets)  # the states are out; the next save commits these offsets

    async def _publish_all(self, states: Mapping[str, ResidentState]) -> None:
        """In chunks: each publish has its own deadline (a million changed states after an outage took longer
        than one publish's timeout, and that save was retried whole, again and again)."""
        encoded = await _encoded(states)
        for k in range(0, len(encoded), PUBLISH_CHUNK):
            chunk = encoded[k:k + PUBLISH_CHUNK]
            await self._publish([(rid, raw) for rid, _, raw in chunk])
            self._saved(chunk)


async def _encoded(states: Mapping[str, ResidentState]) -> list[tuple[str, ResidentState, bytes]]:
    """(resident id, state, packed bytes), yielding to the loop between chunks so evaluation goes on meanwhile."""
    out: list[tuple[str, ResidentState, bytes]] = []
    for i, (rid, state) in enumerate(states.items()):
        if i and i % ENCODE_CHUNK == 0:
            await asyncio.sleep(0)
        out.append((rid, state, pack_state(state)))
    return out
