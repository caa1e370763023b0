"""The planning benchmark runs and stays far inside its budget on a small sample."""
from __future__ import annotations

from bench.outreach_plan import run_plan_bench


def test_plan_bench_small_sample() -> None:
    result = run_plan_bench(5_000)
    assert result["residents"] == 5_000
    assert 0 < result["calls_planned"] <= 5_000  # at most one call per resident per day
    assert set(result["per_purpose"]) <= {"follow_up", "reablement", "birthday"}
    # 5 % of the 100k budget, with a generous margin for slow CI machines.
    assert result["seconds"] < 0.05 * 10.0 * 4
