"""`telecare bench rules-restart` on a small fleet: the restarted worker process restores every state and fires
what the outage made due (each gateway's supervision), and the bench reports each milestone."""
from __future__ import annotations

from bench.rules_restart import run_rules_restart_bench


async def test_the_restart_bench_restores_every_state_and_fires_the_overdue_supervision(kafka_bootstrap, monkeypatch):
    monkeypatch.setenv("TELECARE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    result = await run_rules_restart_bench(300, outage_minutes=10)
    print(result)
    worker = result["worker"]
    assert worker["registry"] <= worker["state_ready"] <= worker["overdue_fired"]
    # Each home's gateway (supervised every 5 minutes) was silent for 10: one timer each, fired once.
    assert worker["timers_fired"] >= 300 and worker["residents_ticked"] >= 300
    assert result["restore_s"] > 0 and result["restore_s_at_1m"] == round(result["restore_s"] * 1e6 / 300, 1)
