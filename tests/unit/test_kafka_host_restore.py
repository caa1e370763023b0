"""KafkaRulesHost: a restore task that dies must end the host's loop (its partitions would stay paused)."""
from __future__ import annotations

import asyncio

import pytest


async def test_a_restore_that_dies_ends_the_hosts_loop_instead_of_leaving_partitions_paused() -> None:
    from rules.kafka_host import KafkaRulesHost
    from telecare.fakes import InMemoryResidents

    class Bus:
        def register(self, *args) -> None: ...

    host = KafkaRulesHost(Bus(), InMemoryResidents([], []), None)  # type: ignore[arg-type]

    async def broken() -> None:
        raise KeyError("a bug in restoring")

    task = asyncio.create_task(broken())
    await asyncio.gather(task, return_exceptions=True)
    host._restore_done(task)  # noqa: SLF001 - the task's done callback
    with pytest.raises(KeyError):
        await host._step()  # noqa: SLF001 - the loop's next step raises it (run() reports FAILED)
