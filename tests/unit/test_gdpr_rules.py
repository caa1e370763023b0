"""Pure parts of gdpr/: the retention decision per database, the erasure report, the breach report's times."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gdpr.audit_report import ReadSummary, as_csv, as_table, parse_time
from gdpr.erasure import Action, Erasure, ErasureReport, TableOutcome, outcomes_from
from gdpr.ports import DataKind
from gdpr.retention import EventsMechanism, RetentionPolicy, decide
from telecare.clock import FakeClock
from telecare.errors import InvalidInput
from telecare.settings import load_settings
from telecare.store.migrate import DbFeatures

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
POLICY = RetentionPolicy(events_days=730, dead_letters_days=30, audit_days=1825)


@pytest.mark.parametrize("features, mechanism, set_policy", [
    (DbFeatures(event_partitions=4), EventsMechanism.DROP_PARTITIONS, False),
    (DbFeatures(timescale=True, event_partitions=4), EventsMechanism.DROP_PARTITIONS, False),  # installed, unused
    (DbFeatures(timescale=True, licence="apache", hypertable=True), EventsMechanism.DROP_CHUNKS, False),
    (DbFeatures(timescale=True, licence=None, hypertable=True), EventsMechanism.DROP_CHUNKS, False),
    (DbFeatures(timescale=True, licence="timescale", hypertable=True), EventsMechanism.TIMESCALE_POLICY, True),
    (DbFeatures(timescale=True, licence="timescale", hypertable=True, retention_policy_days=730.0),
     EventsMechanism.TIMESCALE_POLICY, False),
    (DbFeatures(timescale=True, licence="timescale", hypertable=True, retention_policy_days=365.0),
     EventsMechanism.TIMESCALE_POLICY, True),  # another horizon: replaced
])
def test_the_retention_mechanism_follows_what_the_database_allows(features, mechanism, set_policy):
    plan = decide(features, POLICY, NOW)
    assert (plan.events, plan.set_policy) == (mechanism, set_policy)
    assert plan.events_horizon == NOW - timedelta(days=730)
    assert plan.dead_letters_before == NOW - timedelta(days=30) and plan.audit_keep_days == 1825 and plan.now == NOW


def test_retention_settings_defaults_and_floor():
    s = load_settings()
    assert RetentionPolicy.from_settings(s) == RetentionPolicy(730, 30, 1825)
    with pytest.raises(Exception, match="RETENTION_AUDIT_DAYS"):
        load_settings(retention_audit_days=30)


def test_the_feature_report_names_each_feature_and_its_fallback():
    plain = "\n".join(DbFeatures(event_partitions=3, audit_purge=True).lines())
    assert "hypertable: off" in plain and "drops whole monthly partitions" in plain and "3 attached" in plain
    assert "compression: off" in plain and "continuous aggregates: off" in plain
    ts = "\n".join(DbFeatures(timescale=True, licence="apache", hypertable=True).lines())
    assert "licence apache" in ts and "retention policy: off (fallback: the maintenance job calls drop_chunks)" in ts
    full = "\n".join(DbFeatures(timescale=True, licence="timescale", hypertable=True, compression=True,
                                retention_policy_days=730.0, continuous_aggregates=2).lines())
    assert "compression: on" in full and "retention policy: on (730 days)" in full and "continuous aggregates: 2" in full


def test_the_erasure_report_says_what_goes_and_what_stays_and_why():
    outcomes = outcomes_from([("events", "deleted", 120, []), ("call_log", "kept", 2, ["5", "6"]),
                              ("residents", "pseudonymised", 1, ["r1"]), ("rule_state", "deleted", 0, [])])
    report = ErasureReport("r1", NOW, True, tuple(outcomes))
    assert report.totals() == {("events", Action.DELETED): 120, ("call_log", Action.KEPT): 2,
                               ("residents", Action.PSEUDONYMISED): 1}
    text = report.text()
    assert text.splitlines()[0] == "DRY RUN: nothing changed. erasure of resident r1"
    assert "would delete" in text and "120  events" in text and "legal retention" in text
    assert "rule_state" not in text  # nothing to do there
    assert report.detail() == {"dry_run": True, "rows": {"events.deleted": 120, "call_log.kept": 2,
                                                         "residents.pseudonymised": 1}}
    assert TableOutcome("events", Action.DELETED, 1).reason is None
    assert "nothing held" in ErasureReport("r2", NOW, False, ()).text()
    with pytest.raises(ValueError):
        outcomes_from([("events", "shredded", 1, [])])


def test_an_erasure_without_every_owner_registered_refuses_to_start():
    with pytest.raises(ValueError, match="no eraser registered for: .*registry"):
        Erasure(object(), {k: None for k in DataKind if k is not DataKind.REGISTRY}, None, FakeClock(NOW))  # type: ignore[arg-type]


def test_breach_report_times_and_output():
    assert parse_time("72h", NOW) == NOW - timedelta(hours=72)
    assert parse_time("30d", NOW) == NOW - timedelta(days=30)
    assert parse_time("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_time("2026-11-01T10:00+02:00", NOW) == datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
    with pytest.raises(InvalidInput, match="ISO 8601"):
        parse_time("yesterday", NOW)
    items = [ReadSummary("anna", "r1", 3, ("resident.card.read",), NOW, NOW),
             ReadSummary("=evil", "r2", 1, ("resident.key_safe.reveal",), NOW, NOW)]
    csv_text = as_csv(items)
    assert csv_text.splitlines()[0] == "actor,resident_id,reads,actions,first_at,last_at" and "'=evil" in csv_text
    table = as_table(items, NOW - timedelta(days=3), NOW)
    assert "anna: 1 resident(s), 3 read(s)" in table and "2 actor(s) read the data of 2 resident(s)" in table
    assert "no reads recorded" in as_table([], NOW, NOW)


class _TimescaleDb:
    """Records statements; refuses add_retention_policy like an Apache-only or unprivileged server."""

    def __init__(self, refuse_policy: bool) -> None:
        self.refuse, self.sql = refuse_policy, []

    def transaction(self):
        db = self

        class _Tx:
            async def __aenter__(self):
                return self

            async def __aexit__(self, *exc):
                return False

            async def execute(self, sql, params=None):
                db.sql.append(sql)
                if db.refuse and "add_retention_policy" in sql:
                    from telecare.errors import StoreError

                    raise StoreError("database error: 0A000")
                return 1
        return _Tx()

    async def fetch(self, sql, params=None):
        self.sql.append(sql)
        return [{"chunk": "_hyper_1_1_chunk"}, {"chunk": "_hyper_1_2_chunk"}] if "drop_chunks" in sql else []

    async def fetchval(self, sql, params=None):
        self.sql.append(sql)
        return 0


@pytest.mark.parametrize("refuse", [False, True])
async def test_timescale_policy_or_its_graceful_fallback(refuse):
    from gdpr.retention import enforce

    db = _TimescaleDb(refuse)
    plan = decide(DbFeatures(timescale=True, licence="timescale", hypertable=True), POLICY, NOW)

    async def no_dead_letters(cutoff):
        return 0

    result = await enforce(db, plan, no_dead_letters)  # type: ignore[arg-type]
    if refuse:
        assert result.mechanism is EventsMechanism.DROP_CHUNKS and result.dropped_chunks == 2 and result.notes
    else:
        assert result.policy_set and result.dropped_chunks == 0 and not any("drop_chunks" in s for s in db.sql)
    assert any("telecare_purge_audit" in s for s in db.sql)
