"""Welfare checks owed by calls left unreached: raised at once, and raised later by the sweep if that failed.

A resident nobody reached after every attempt must reach the operators' queue. The raise goes to the alert sink
(the alert store in-process, `alert-triggers` on Kafka); if that is down at that moment the task keeps
owing it (call_tasks.welfare_due_at) and the dialer's sweep raises it once the sink is back. A raise whose
mark could not be cleared is raised again: it attaches to the same active alert, never a second one.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from outreach.task_records import CallTask, welfare_trigger
from outreach.tasks import TaskStore
from telecare.alerts import AlertSink
from telecare.errors import TelecareError
from telecare.metrics import OUTREACH_WELFARE_RAISES

log = logging.getLogger(__name__)

SWEEP_EVERY = timedelta(seconds=30)
# The raise right after the attempt takes milliseconds; a sweep waits this long so it never races it.
SWEEP_GRACE = timedelta(seconds=60)


async def raise_welfare(tasks: TaskStore, alerts: AlertSink, task: CallTask, now: datetime, *,
                        late: bool = False) -> bool:
    """Raise the welfare_check the task owes and clear what it owes; False (still owed) when the sink failed."""
    try:
        await alerts.raise_or_attach(welfare_trigger(task, now), now)
    except TelecareError as err:  # the sink's own error, already safe to show: the sweep tries again
        OUTREACH_WELFARE_RAISES.labels("failed").inc()
        log.error("welfare check for unreached call task %s not raised yet (%s); the sweep tries again",
                  task.id, err)
        return False
    OUTREACH_WELFARE_RAISES.labels("late" if late else "raised").inc()
    try:
        await tasks.welfare_raised(task.id)
    except TelecareError as err:
        log.warning("welfare check for call task %s raised but not marked (%s): it attaches again later",
                    task.id, err)
    return True


async def raise_owed(tasks: TaskStore, alerts: AlertSink, now: datetime) -> int:
    """Raise every welfare check still owed from before the grace period; return how many were raised."""
    raised = 0
    for task in await tasks.welfare_owed(now - SWEEP_GRACE):
        if not await raise_welfare(tasks, alerts, task, now, late=True):
            break  # the sink is still down: the next sweep tries again
        raised += 1
    if raised:
        log.warning("raised %d welfare check(s) that could not be raised when their calls ended", raised)
    return raised
