"""`telecare bench copy` runs against a real PostgreSQL and its psql, and reports what it measured."""
from __future__ import annotations

import pytest

from bench.sink_copy import run_copy_bench
from ingest.store_writer import BATCH_RECORDS

pytestmark = pytest.mark.integration


async def test_copy_bench_stores_and_reloads_every_row_and_reports_its_ratio(monkeypatch, pg_server_url):
    monkeypatch.setenv("TELECARE_DATABASE_URL", pg_server_url)  # a scratch database on the suite's server
    result = await run_copy_bench(3_000, rounds=2)  # raises if the sink or psql stored another count
    assert result["batch_size"] == BATCH_RECORDS and result["rows"] == 3_000
    assert len(result["round_ratios"]) == 2 and all(r > 0 for r in result["round_ratios"])
    assert result["ratio"] == pytest.approx(result["sink_rows_per_s"] / result["psql_copy_rows_per_s"], rel=0.01)
    assert result["meets_target"] == (result["ratio"] >= result["target_ratio"] == 0.5)
    in_process = await run_copy_bench(1_000, batch_size=500, rounds=1)
    assert in_process["batch_size"] == 500 and in_process["rows"] == 1_000
