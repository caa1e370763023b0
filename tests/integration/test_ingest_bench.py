"""The ingest benchmark runs end to end on a small load (real PostgreSQL, broker, rules, alerts)."""
from __future__ import annotations

import pytest

from bench.ingest import run_ingest_bench


async def test_bench_drains_everything_and_measures_alert_latency(
    pg_server_url: str, mqtt_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELECARE_DATABASE_URL", pg_server_url)
    monkeypatch.setenv("TELECARE_MQTT_URL", mqtt_url)
    result = await run_ingest_bench(600, homes=40, live_events=10, live_rate=200.0, live_load_s=2.0)
    assert result["events_stored"] == 600  # counted after the drain, before the live phase
    assert result["live_events"] == 10
    assert result["bare_drain_msgs_per_s"] > 0 and result["pipeline_drain_events_per_s"] > 0
    assert 0 < result["publish_to_alert_ms"]["p50"] <= result["publish_to_alert_ms"]["p99"]
    assert result["alerts"] >= 10  # every help button raised one (falls in the mix raise more)
    live = result["live_load"]  # steady load from another process at half the drain rate, with help presses
    assert live["presses"] >= 1 and live["achieved_publish_per_s"] > 0
    assert 0 < live["publish_to_alert_ms"]["p50"] <= live["publish_to_alert_ms"]["p99"]
