"""The endpoint x role matrix, generated from the app's own route table and dashboards/policy.py.

Every route, every role and anonymous: each allow answers something other than 401/403 (a 422 for a
minimal body is fine: validation runs after authorization), each deny 401 (API) / 303 to /login (page) for
anonymous and 403 for a signed-in role. Plus: care team A cannot read team B's resident, and an app with a
route missing from the policy is not built.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from dashboards.policy import POLICY, PolicyMissing, route_keys
from dashboards.routes.commissioning import router as commissioning_router
from dashboards.routes.devices import router as devices_router
from dashboards.routes.fleet import router as fleet_router
from dashboards.routes.phones import router as phones_router
from dashboards.routes.twilio_webhooks import router as twilio_router
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from entrypoints.web_alone import care_routers_without_outreach
from identity.model import Role
from outreach.twilio_telephony import TwilioTelephony
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from tests.web_helpers import api_client, issue_token
from dashboards.routes.quality import router as quality_router
from entrypoints.gdpr_wiring import gdpr_router
from telecare.settings import load_settings

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
TWILIO_SIGNED = {"/twilio/status", "/twilio/gather"}  # public, but the route's own signature check says 403
STREAMS = {"/api/alerts/stream", "/api/phones/stream", "/api/gateways/gw-ra/commissioning/1/stream"}


ERASE = ("POST", "/api/residents/{resident_id}/erase")


async def build(db: Any) -> tuple[Any, dict[str, Any]]:
    """The app with every component's routes, two teams' residents, an alert and a call of team A's."""
    clock, bus = FakeClock(T0), InProcessBus()
    alerts, registry = AlertStore(db, bus), Registry(db)
    for rid, team in (("ra", "A"), ("rb", "B")):
        await db.execute("INSERT INTO residents (id, name, phones, care_plan) VALUES (%s, %s, '{+34600000009}', %s)",
                         (rid, f"Resident {rid}", {"team": team}))
        await db.execute("INSERT INTO devices (id, type, gateway_id, resident_id) VALUES (%s, 'gateway', %s, %s)",
                         (f"gw-{rid}", f"gw-{rid}", rid))
    alert = (await alerts.raise_or_attach(AlertTrigger("ra", AlertType.FALL, Severity.CRITICAL, T0, "fall"), T0)).alert
    core = SimpleNamespace(db=db, alerts=alerts, registry=registry, clock=clock,
                           settings=SimpleNamespace(telephony="simulated", bus=None, kafka_bootstrap=None))
    care = care_routers_without_outreach(core)[0]
    twilio = TwilioTelephony("AC" + "0" * 32, "secret", "+34930001122", "https://telecare.example", clock=clock)
    routers = (devices_router(registry, clock), care, phones_router(SimulatedTelephony(clock)), twilio_router(twilio),
               gdpr_router(db, clock, load_settings(database_url=None)), quality_router(db, clock),
               commissioning_router(db, alerts, clock), fleet_router(db, clock))
    app = create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, extra_routers=routers))
    call_id = await care_call(core, "ra")
    values = {"resident_id": "ra", "alert_id": str(alert.id), "call_id": str(call_id), "campaign_id": "1",
              "device_id": "gw-ra", "gateway_id": "gw-ra", "session_id": "1", "name": "someone-else",
              "token_id": "999999", "action": "answer", "language": "ca"}
    return app, values


async def care_call(core: Any, resident_id: str) -> int:
    from outreach.call_log import CallLog

    return await CallLog(core.db).start_attempt(resident_id=resident_id, purpose="follow_up", caller="x",
                                                mode="human", phone="+34600000009", task_id=None, attempt=1,
                                                started_at=T0)


async def first_status(app: Any, method: str, path: str, headers: dict[str, str]) -> int:
    """The status line of one request, driven straight through ASGI (a stream is cut after its headers)."""
    body = b"{}" if method in ("POST", "PUT", "DELETE") else b""
    raw = [(k.lower().encode(), v.encode()) for k, v in {**headers, "content-type": "application/json",
                                                          "content-length": str(len(body))}.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "headers": raw,
             "client": ("127.0.0.1", 5000), "server": ("operator.test", 80), "root_path": ""}
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sent = False
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])

    task = asyncio.create_task(app(scope, receive, send))
    try:
        return await asyncio.wait_for(started, 10)
    finally:
        gone.set()
        if path in STREAMS:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def concrete(path: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    return path


async def test_every_route_every_role(db, capsys):
    app, values = await build(db)
    # An admin's allowed erasure really erases: run it last, so every other route sees the residents intact.
    keys = sorted(route_keys(app), key=lambda k: k == ERASE)
    assert set(keys) <= set(POLICY) and ERASE in keys
    principals: dict[str, dict[str, str]] = {"anonymous": {}}
    async with app.router.lifespan_context(app):
        for role in Role:
            token = await issue_token(app, f"m-{role.value.replace('_', '-')}", role, ["A"] if role in
                                      (Role.CARE_TEAM, Role.COORDINATOR) else [])
            principals[role.value] = {"authorization": f"Bearer {token}"}
        failures, checked = [], 0
        for method, path in keys:
            rule = POLICY[(method, path)]
            for who, headers in principals.items():
                allowed = rule.public or (who != "anonymous" and Role(who) in rule.roles)
                status = await first_status(app, method, concrete(path, values), headers)
                checked += 1
                page = method == "GET" and not path.startswith("/api/")
                if allowed:
                    ok = status not in (401, 403) or (path in TWILIO_SIGNED and status == 403)
                elif who == "anonymous":
                    ok = status == (303 if page else 401)
                else:
                    ok = status == 403
                if not ok:
                    failures.append(f"{method} {path} as {who}: {status} ({'allow' if allowed else 'deny'})")
    with capsys.disabled():
        print(f"\naccess matrix: {len(keys)} routes x {len(principals)} principals "
              f"({len(Role)} roles + anonymous) = {checked} requests")
    assert not failures, "\n".join(failures)
    assert checked == len(keys) * (len(Role) + 1) and len(keys) >= 50


async def test_care_team_a_cannot_read_team_b_and_the_denial_is_audited(db):
    app, values = await build(db)
    async with app.router.lifespan_context(app):
        token = await issue_token(app, "carer-a", Role.CARE_TEAM, ["A"])
        auth = {"authorization": f"Bearer {token}"}
        for path in ("/api/residents/ra", "/api/residents/ra/events"):
            assert await first_status(app, "GET", path, auth) == 200
        for path in ("/api/residents/rb", "/api/residents/rb/events", "/api/residents/nobody"):
            assert await first_status(app, "GET", path, auth) == 403
        # The resident page (issue 8): every read and write of team B's resident is refused to team A.
        for method, path in (("GET", "/residents/ra"), ("GET", "/api/residents/ra/timeline"),
                             ("GET", "/api/residents/ra/series/bed"), ("GET", "/api/residents/ra/care-plan")):
            assert await first_status(app, method, path, auth) == 200, path
        for method, path in (("GET", "/residents/rb"), ("GET", "/api/residents/rb/timeline"),
                             ("GET", "/api/residents/rb/series/bed"), ("GET", "/api/residents/rb/care-plan"),
                             ("PUT", "/api/residents/rb/care-plan"), ("POST", "/api/residents/rb/visits"),
                             ("POST", "/api/residents/rb/notes")):
            assert await first_status(app, method, path, auth) == 403, path
    denied = await db.fetch("SELECT actor, actor_kind, residents, outcome, detail FROM audit_log "
                            "WHERE action = 'access.denied' ORDER BY id")
    assert [(d["actor"], d["actor_kind"], d["residents"], d["outcome"]) for d in denied] == [
        ("carer-a", "token", ["rb"], "denied"), ("carer-a", "token", ["rb"], "denied"),
        ("carer-a", "token", ["nobody"], "denied")] + [("carer-a", "token", ["rb"], "denied")] * 7
    assert denied[0]["detail"]["path"] == "/api/residents/rb"


async def test_a_route_without_a_policy_fails_app_creation(db):
    extra = APIRouter()

    @extra.get("/api/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"personal": "data"}

    bus = InProcessBus()
    with pytest.raises(PolicyMissing, match="GET /api/forgotten"):
        create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(T0), extra_routers=(extra,)))


def test_every_policy_row_names_known_roles_and_no_public_route_holds_personal_data():
    public = sorted(p for (m, p), rule in POLICY.items() if rule.public)
    assert all(not p.startswith(("/api/residents", "/api/alerts", "/api/calls", "/api/worklist")) for p in public)
    assert json.dumps(public)  # printed by -v runs: what anyone can reach


async def test_a_care_teams_call_log_counts_only_its_rows_against_the_limit(db):
    app, _ = await build(db)
    core = SimpleNamespace(db=db)
    for _ in range(3):  # newer calls of team B's resident would fill a LIMIT taken before the team filter
        await care_call(core, "rb")
    async with app.router.lifespan_context(app):
        token = await issue_token(app, "carer-a2", Role.CARE_TEAM, ["A"])
        async with api_client(app, anonymous=True) as client:
            got = await client.get("/api/calls?limit=2", headers={"authorization": f"Bearer {token}"})
    assert got.status_code == 200 and {c["resident_id"] for c in got.json()} == {"ra"}
