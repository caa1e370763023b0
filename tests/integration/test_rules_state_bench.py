"""`telecare bench rules-state` runs at a small size against a real PostgreSQL and reports its figures."""
from __future__ import annotations

import pytest

from bench.rules_state import run_rules_state_bench

pytestmark = pytest.mark.integration


async def test_rules_state_bench_reports_memory_packed_and_not_and_the_outage(monkeypatch, pg_server_url):
    monkeypatch.setenv("TELECARE_DATABASE_URL", pg_server_url)  # a scratch database on the suite's server
    result = await run_rules_state_bench(300)  # raises if the loaded or unpacked states differ from the saved
    assert result["residents"] == 300 and result["devices"] == 1_800 and result["timers_per_resident"] > 6
    # packed (what a Kafka rules host keeps between events) is a fraction of the engine's objects
    assert 0 < result["packed_state_bytes_per_resident"] < result["state_bytes_per_resident"] / 2
    assert result["pack_us"] > 0 and result["unpack_us"] > 0 and result["save_s"] > 0 and result["load_s"] > 0
    outage = result["after_outage"]
    assert outage["timers_fired"] >= 300  # the day's jump: every gateway's supervision, inactivity, doses
    assert 0 <= outage["lag_p50_s"] <= outage["lag_p99_s"] <= outage["lag_max_s"]
