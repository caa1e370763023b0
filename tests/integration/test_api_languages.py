"""The pages' languages over the real app and database: the catalogue JSON, a user's choice, the default."""
from __future__ import annotations

from datetime import datetime, timezone

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.i18n import Language
from tests.web_helpers import api_client, session_client

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


def _app(db, language: Language | None = None):
    clock, bus = FakeClock(T0), InProcessBus()
    return create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=clock, service_language=language))


async def test_the_catalogue_is_public_json_with_an_etag(db):
    async with api_client(_app(db), anonymous=True) as client:
        ca = await client.get("/i18n/ca.json")
        assert ca.status_code == 200 and ca.headers["content-language"] == "ca"
        assert ca.json()["language"] == "ca" and ca.json()["messages"]["Acknowledge"] == "Atendre"
        again = await client.get("/i18n/ca.json", headers={"If-None-Match": ca.headers["etag"]})
        assert again.status_code == 304
        es = await client.get("/i18n/es.json")
        assert es.json()["messages"]["Alert queue"] == "Cola de alertas" and es.headers["etag"] != ca.headers["etag"]
        assert (await client.get("/i18n/en.json")).json()["messages"] == {}
        unknown = await client.get("/i18n/fr.json")
        assert unknown.status_code == 422


async def test_the_service_language_is_the_default_until_a_user_chooses(db):
    app = _app(db, Language.ES)
    async with session_client(app, name="marta") as client:
        assert (await client.get("/api/config")).json()["service_language"] == "es"
        assert (await client.get("/api/session")).json()["language"] is None  # the page uses the service's
        chosen = await client.put("/api/session/language", json={"language": "ca"})
        assert chosen.status_code == 200 and chosen.json() == {"language": "ca", "chosen": True}
        assert (await client.get("/api/session")).json()["language"] == "ca"
        assert await db.fetchval("SELECT language FROM users WHERE name = 'marta'") == "ca"
        bad = await client.put("/api/session/language", json={"language": "klingon"})
        assert bad.status_code == 422
        assert await db.fetchval("SELECT language FROM users WHERE name = 'marta'") == "ca"  # nothing else lost
        back = await client.put("/api/session/language", json={"language": None})
        assert back.json() == {"language": "es", "chosen": False}
        assert (await client.get("/api/session")).json()["language"] is None


async def test_the_default_follows_the_setting(db, monkeypatch):
    monkeypatch.setenv("TELECARE_SERVICE_LANGUAGE", "ca")
    async with api_client(_app(db), anonymous=True) as client:
        assert (await client.get("/api/config")).json()["service_language"] == "ca"
    monkeypatch.setenv("TELECARE_SERVICE_LANGUAGE", "es")
    async with api_client(_app(db), anonymous=True) as client:
        assert (await client.get("/api/config")).json()["service_language"] == "es"


async def test_changing_the_language_needs_the_csrf_header(db):
    app = _app(db)
    async with session_client(app, name="pere") as client:
        refused = await client.put("/api/session/language", json={"language": "es"}, headers={"X-CSRF-Token": ""})
        assert refused.status_code == 403
        assert await db.fetchval("SELECT language FROM users WHERE name = 'pere'") is None
