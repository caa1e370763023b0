"""The callback app of an outreach process run alone: public provider routes only; which parts serve what."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import APIRouter

from dashboards.policy import PolicyMissing
from dashboards.webhook_app import create_webhook_app
from entrypoints.part_endpoints import part_endpoints
from telecare.health import Health
from telecare.settings import load_settings


def test_a_route_that_needs_a_sign_in_is_refused_in_the_callback_app() -> None:
    guarded = APIRouter()

    @guarded.get("/api/alerts")
    async def alerts() -> list:
        return []

    with pytest.raises(PolicyMissing, match="public routes only, not GET /api/alerts"):
        create_webhook_app(Health(), [guarded])


def test_a_route_with_no_policy_row_is_refused_too() -> None:
    unknown = APIRouter()

    @unknown.post("/twilio/other")
    async def other() -> None:
        return None

    with pytest.raises(PolicyMissing, match="POST /twilio/other"):
        create_webhook_app(Health(), [unknown])


class TwilioTelephony:  # part_endpoints tells telephonies apart by class name, as the composition root does
    pass


def test_outreach_on_twilio_serves_even_without_a_port_setting_other_parts_do_not() -> None:
    unset = SimpleNamespace(settings=load_settings(database_url=None), health=Health())
    assert part_endpoints(unset, None) is None  # side by side on one host: no port, nothing served
    assert part_endpoints(unset, SimpleNamespace(telephony=object())) is None  # the simulator needs no callbacks
    twilio = SimpleNamespace(telephony=TwilioTelephony(), dialer=SimpleNamespace(on_update=None))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dashboards.routes.twilio_webhooks.router", lambda telephony, on_update: APIRouter())
        assert part_endpoints(unset, twilio) is not None  # Twilio's callbacks must reach the dialer
    with_port = SimpleNamespace(settings=load_settings(database_url=None, http_port=8123), health=Health())
    assert part_endpoints(with_port, None) is not None
