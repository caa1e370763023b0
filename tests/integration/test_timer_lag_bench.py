"""`telecare bench timer-lag` on a small fleet: a restarted worker fires every gateway's supervision once, as it
comes due, and the bench reports the lag of each against its due time."""
from __future__ import annotations

from bench.timer_lag import run_timer_lag_bench


async def test_the_timer_lag_bench_fires_each_gateway_once_and_reports_its_lag(kafka_bootstrap, monkeypatch):
    monkeypatch.setenv("TELECARE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    result = await run_timer_lag_bench(devices=1_200, window_s=12.0, outage_minutes=0.5)
    print(result)
    assert result["residents"] == 200 and result["gateway_timers_expected"] == 200
    assert result["gateway_timers_fired"] == 200 and result["missing"] == 0 and result["duplicated"] == 0
    after, overdue = result["due_after_ready"], result["overdue_at_ready"]
    # due from 30 s ago to 12 s from the start: some before the worker was ready (the outage), some after
    assert overdue["n"] > 0 and after["n"] > 0 and overdue["n"] + after["n"] == result["timers_fired"]
    assert 0 <= result["steady"]["n"] <= after["n"]
    assert 0 <= after["p50_s"] <= after["p99_s"] <= after["max_s"]
    assert result["meets_target"] == (after["p99_s"] <= 1.0)
