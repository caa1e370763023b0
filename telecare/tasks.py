"""Helpers for long-lived asyncio loops."""
from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if this task was cancelled but the cancellation was swallowed on the way.

    Python 3.11's asyncio.wait_for returns its inner result instead of raising when the inner future finishes
    in the same loop pass as the cancellation (gh-86296, fixed in 3.12). A loop around such a wait then goes on
    after being cancelled, and its process never stops: seen with a Kafka rules host on shutdown. Call it once
    per pass of every loop that awaits a wait_for."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
