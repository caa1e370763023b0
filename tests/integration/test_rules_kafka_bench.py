"""`telecare bench rules-kafka` end to end on a small backlog: every stage drains it and reports a rate."""
from __future__ import annotations

from bench.rules_kafka import run_rules_kafka_bench


async def test_the_rules_kafka_bench_runs_every_stage(kafka_bootstrap, monkeypatch):
    monkeypatch.setenv("TELECARE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    result = await run_rules_kafka_bench(3000)
    print(result)
    for key in ("plain_consumer_events_per_s", "rules_worker_events_per_s", "one_process_events_per_s",
                "two_processes_events_per_s"):
        assert result[key] > 0, key
    ratio = result["rules_worker_events_per_s"] / result["plain_consumer_events_per_s"]
    assert abs(result["ratio_worker_vs_plain"] - ratio) < 0.02
