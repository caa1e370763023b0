"""raise_if_cancelled: a loop stops even when asyncio.wait_for swallowed its cancellation (Python 3.11)."""
from __future__ import annotations

import asyncio
import sys

import pytest

from telecare.tasks import raise_if_cancelled


async def _loop(passes: list[int], check: bool) -> None:
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    while len(passes) < 5:
        passes.append(1)
        inner = loop.create_future()
        if len(passes) == 1:  # the inner result and the cancellation arrive in the same loop pass
            loop.call_soon(lambda: (inner.set_result(None), task.cancel()))
        else:
            loop.call_soon(inner.set_result, None)
        await asyncio.wait_for(inner, 1.0)
        if check:
            raise_if_cancelled()


async def test_the_loop_ends_at_the_pass_whose_cancellation_wait_for_swallowed() -> None:
    passes: list[int] = []
    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(_loop(passes, check=True))
    assert len(passes) == 1


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for no longer swallows it (gh-86296)")
async def test_without_it_the_cancelled_loop_goes_on_on_this_python() -> None:
    passes: list[int] = []
    await asyncio.create_task(_loop(passes, check=False))  # returns normally: the cancel was lost
    assert len(passes) == 5


async def test_nothing_happens_in_a_task_nobody_cancelled() -> None:
    raise_if_cancelled()
