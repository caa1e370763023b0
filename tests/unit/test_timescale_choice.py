"""The TimescaleDB decision `telecare db upgrade` takes from what the server says (pure)."""
from __future__ import annotations

import pytest

from telecare.store.timescale import PRELOAD_HINT, TimescaleChoice, TimescaleMode, TimescaleProbe, choose, preloaded

AUTO, OFF = TimescaleMode.AUTO, TimescaleMode.OFF


@pytest.mark.parametrize("value, expected", [
    ("timescaledb", True), ("pg_stat_statements, timescaledb", True), ("'timescaledb'", True),
    ("$libdir/timescaledb", True), ("timescaledb-2.28.3", True), ("", False), ("pg_stat_statements", False),
    ("timescaledb_toolkit", False), ("my_timescaledb", False)])
def test_the_preload_list_is_read_like_postgresql_reads_it(value, expected):
    assert preloaded(value) is expected


def test_plain_postgresql_is_plain_without_a_word():
    assert choose(TimescaleProbe(available=False, installed=False), AUTO) == TimescaleChoice(False)
    assert choose(TimescaleProbe(available=False, installed=False), OFF) == TimescaleChoice(False)


def test_a_preloaded_timescaledb_is_used():
    assert choose(TimescaleProbe(True, False, "timescaledb"), AUTO) == TimescaleChoice(True)
    assert choose(TimescaleProbe(True, True, "pg_stat_statements,timescaledb"), AUTO) == TimescaleChoice(True)


def test_installed_but_not_preloaded_is_refused_with_what_to_set():
    # The server: TimescaleDB 2.28.3 packaged, shared_preload_libraries without it -> XX000 before.
    choice = choose(TimescaleProbe(available=True, installed=False, preload_libraries="pg_stat_statements"), AUTO)
    assert not choice.use and choice.error is not None
    assert PRELOAD_HINT in choice.error and "restart PostgreSQL" in choice.error
    assert "TELECARE_TIMESCALE=off" in choice.error  # and the other way out


def test_off_chooses_plain_postgresql_knowingly():
    choice = choose(TimescaleProbe(available=True, installed=False, preload_libraries=""), OFF)
    assert not choice.use and choice.error is None and "plain PostgreSQL" in (choice.warning or "")
    preloaded_but_off = choose(TimescaleProbe(True, False, "timescaledb"), OFF)
    assert not preloaded_but_off.use and preloaded_but_off.warning


def test_an_existing_hypertable_stays_and_a_lost_preload_is_refused():
    kept = choose(TimescaleProbe(True, True, "timescaledb"), OFF)
    assert kept.use and "already uses TimescaleDB" in (kept.warning or "")
    lost = choose(TimescaleProbe(True, True, ""), AUTO)
    assert not lost.use and PRELOAD_HINT in (lost.error or "")
