"""Pure shaping used by the operator API: waiting clocks, queue order, cards, readable errors."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from dashboards.views import age_on, alert_view, card_from_row, queue_order, readable_errors, waiting_seconds
from telecare.alerts import Alert, AlertStatus, AlertType, Severity

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


def _alert(id_, severity, raised_s, status=AlertStatus.OPEN, ack_s=None):
    raised = T0 + timedelta(seconds=raised_s)
    return Alert(id_, "r1", AlertType.FALL, severity, status, raised, raised, raised, 1, "x",
                 acknowledged_at=None if ack_s is None else T0 + timedelta(seconds=ack_s))


def test_waiting_runs_while_open_and_freezes_at_acknowledge():
    now = T0 + timedelta(seconds=90)
    assert waiting_seconds(_alert(1, Severity.HIGH, 0), now) == 90.0
    assert waiting_seconds(_alert(2, Severity.HIGH, 0, AlertStatus.ACKNOWLEDGED, ack_s=42), now) == 42.0
    assert waiting_seconds(_alert(3, Severity.HIGH, 120), now) == 0.0  # clock skew never shows negative


def test_queue_order_is_severity_then_oldest_then_id():
    alerts = [_alert(1, Severity.TECHNICAL, 0), _alert(2, Severity.HIGH, 10), _alert(3, Severity.CRITICAL, 20),
              _alert(4, Severity.HIGH, 5), _alert(5, Severity.MEDIUM, 0), _alert(6, Severity.HIGH, 5)]
    assert [a.id for a in queue_order(alerts)] == [3, 4, 6, 2, 5, 1]


def test_alert_view_adds_name_waiting_and_rank():
    view = alert_view(_alert(7, Severity.CRITICAL, 0), "Montserrat", T0 + timedelta(seconds=5))
    assert (view["resident_name"], view["waiting_seconds"], view["severity_rank"]) == ("Montserrat", 5.0, 0)
    assert view["raised_at"] == T0.isoformat() and view["status"] == "open"


def test_age_counts_whole_years_including_leap_day_birthdays():
    assert age_on(date(1940, 2, 29), date(2026, 2, 28)) == 85
    assert age_on(date(1940, 2, 29), date(2026, 3, 1)) == 86
    assert age_on(None, date(2026, 3, 1)) is None


def test_card_keeps_only_the_presence_of_the_code_and_skips_malformed_contacts():
    row = {"id": "r1", "name": "Montserrat", "timezone": "Europe/Madrid", "date_of_birth": date(1940, 1, 1),
           "key_safe_code": "1234", "contacts": [{"name": "B", "phone": "2", "priority": 2, "key_holder": True},
                                                 "garbage", {"phone": "no name"}, {"name": "A", "phone": "1"}]}
    card = card_from_row(row, T0)
    assert card.has_key_safe and "1234" not in repr(card.to_dict())
    assert [c.name for c in card.contacts] == ["A", "B"] and [c.name for c in card.key_holders] == ["B"]
    assert card.age == 86


def test_readable_errors_name_the_field_and_the_problem():
    errors = [{"loc": ("body", "by"), "msg": "Field required"}, {"loc": ("query", "hours"), "msg": "too big"},
              {"loc": ("body",), "msg": "Field required"}]
    assert readable_errors(errors) == "by: Field required; hours: too big; body: Field required"
