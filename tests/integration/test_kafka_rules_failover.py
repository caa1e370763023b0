"""Two rules worker processes on a real broker, a join during a backlog, kill -9 of one: nothing lost or doubled."""
from __future__ import annotations

import os
from pathlib import Path

from tests.integration.rules_fault import run_failover


def work_dir(tmp_root: Path, name: str) -> Path:
    """Where the workers write their logs: TELECARE_TEST_KEEP_DIR keeps them after the run."""
    keep = os.environ.get("TELECARE_TEST_KEEP_DIR")
    return Path(keep) / name if keep else tmp_root / name


async def test_aiokafka_rules_workers_survive_a_join_during_backlog_and_a_kill(kafka_bootstrap, db, tmp_root):
    result = await run_failover(kafka_bootstrap, db, work_dir(tmp_root, "rules-failover-aiokafka"), "aiokafka")
    print(result.line("aiokafka"))
    assert result.joined_during_backlog  # the case that lost messages under Faust
    assert result.lost == 0 and result.duplicated == 0
    assert result.timers_missing == 0 and result.timers_duplicated == 0
    assert result.stale_states == 0  # the last event of every device is in the state B holds
    assert result.evaluated >= result.sent - 1000  # A's count is reported every 0.2 s: its last report may lag
