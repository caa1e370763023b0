"""`telecare bench resident-page` runs end to end at a tiny size and reports every figure it promises."""
from __future__ import annotations

import pytest

from bench.resident_page import run_resident_page_bench

pytestmark = pytest.mark.integration


async def test_the_resident_page_bench_runs_and_reports_its_figures(monkeypatch):
    monkeypatch.delenv("TELECARE_DATABASE_URL", raising=False)  # its own scratch embedded PostgreSQL
    result = await run_resident_page_bench(300, 2, days=21)
    assert result["seed"]["residents"] == 300 and result["seed"]["measured"] == 2
    # 2 measured residents x the default 3 rounds, each call of the page measured through the app
    assert result["page_parallel"]["n"] == result["page_sequential"]["n"] == 6
    assert {"/card", "/care-plan", "/timeline", "/series/bed", "/series/activity", "/series/calls",
            "/series/devices", "/series/doors", "/series/medication"} == set(result["per_call"])
    assert all(0 < call["p50_ms"] <= call["p95_ms"] for call in result["per_call"].values())
    assert result["directory_operator"]["n"] == result["directory_care_team"]["n"] == 27
    assert result["target_ms"] == 300.0 and isinstance(result["within_target"], bool)
