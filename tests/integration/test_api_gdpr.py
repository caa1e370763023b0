"""The GDPR web hook through the FastAPI app: export zip and erasure, principal from the bearer token, roles."""
from __future__ import annotations

import io
import json
import zipfile

from alerts.store import AlertStore
from entrypoints.gdpr_wiring import gdpr_router
from identity.model import Role
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.settings import load_settings
from tests.web_helpers import api_client, app_with, issue_token
from tests.integration.gdpr_seed import NAME, RID, T0, seed


async def test_export_and_erase_over_http(db):
    await seed(db)
    clock, bus = FakeClock(T0), InProcessBus()
    routers = [gdpr_router(db, clock, load_settings(database_url=None))]
    app = app_with(db, bus, AlertStore(db, bus), clock, routers)  # policy, auth, error map
    tokens = {user: {"Authorization": f"Bearer {await issue_token(app, user, role)}"}
              for user, role in (("ada", Role.ADMIN), ("aud", Role.AUDITOR), ("op", Role.OPERATOR))}
    url = f"/api/residents/{RID}"
    async with api_client(app, anonymous=True) as client:
        assert (await client.get(f"{url}/export")).status_code == 401
        assert (await client.get(f"{url}/export", headers=tokens["op"])).status_code == 403
        got = await client.get(f"{url}/export", headers=tokens["aud"])
        assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
        assert "attachment" in got.headers["content-disposition"] and got.headers["cache-control"] == "no-store"
        doc = json.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("export.json"))
        assert doc["sections"]["profile"][0]["name"] == NAME
        assert (await client.get("/api/residents/nobody/export", headers=tokens["aud"])).status_code == 404

        assert (await client.post(f"{url}/erase?dry_run=true", headers=tokens["aud"])).status_code == 403
        dry = await client.post(f"{url}/erase?dry_run=true", headers=tokens["ada"])
        assert dry.status_code == 200 and dry.json()["dry_run"] is True
        assert {"table": "events", "action": "deleted", "rows": 3} in dry.json()["tables"]
        assert await db.fetchval("SELECT name FROM residents WHERE id = %s", (RID,)) == NAME
        done = await client.post(f"{url}/erase", headers=tokens["ada"])
        assert done.status_code == 200 and done.json()["dry_run"] is False
        assert await db.fetchval("SELECT name FROM residents WHERE id = %s", (RID,)) != NAME
    rows = await db.fetch("SELECT actor, actor_kind, action, client_addr FROM audit_log WHERE action LIKE 'resident.data.%'")
    # Who, as authenticated (a bearer token here), and from where: the web edge's actor, not just a name.
    assert {(r["actor"], r["actor_kind"], r["action"]) for r in rows} >= {
        ("aud", "token", "resident.data.export"), ("ada", "token", "resident.data.erase")}
    assert all(r["client_addr"] for r in rows)


async def test_admins_and_auditors_see_the_retention_in_force(db):
    clock, bus = FakeClock(T0), InProcessBus()
    app = app_with(db, bus, AlertStore(db, bus), clock, [gdpr_router(db, clock, load_settings(database_url=None))])
    async with api_client(app, role=Role.AUDITOR) as client:
        got = (await client.get("/api/admin/retention")).json()
    assert got["days"] == {"events": 730, "dead_letters": 30, "audit": 1825}
    assert any(line.startswith("retention policy: off (fallback") for line in got["features"])
    async with api_client(app, role=Role.OPERATOR) as client:
        assert (await client.get("/api/admin/retention")).status_code == 403
