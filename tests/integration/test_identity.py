"""Identity against a real PostgreSQL: login, sessions (expiry, idle, logout), throttling, disable, API tokens.
Secrets never reach the tables in clear: each test that makes one reads the rows back."""
from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta, timezone

import pytest

from identity.demo_users import ensure_demo_users
from identity.model import CsrfMismatch, LoginLocked, PasswordCredentials, PrincipalKind, Role
from identity.passwords import Passwords
from identity.service import Identity
from identity.tokens import digest
from telecare.clock import FakeClock
from telecare.errors import ConflictError, InvalidInput, NotFound
from telecare.metrics import REGISTRY

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
PASSWORD = "a long demo password"
# Real argon2id with small parameters: the production ones cost a quarter second per hash.
FAST = Passwords(time_cost=1, memory_kib=8192, parallelism=1)


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
async def identity(db, clock):
    ident = Identity(db, clock, passwords=FAST)
    await ident.create_user("anna", [Role.OPERATOR], password=PASSWORD, display_name="Anna Serra")
    return ident


def creds(name="anna", password=PASSWORD, addr="10.0.0.1"):
    return PasswordCredentials(name, password, addr)


async def _dump(db, table):
    """Every row of a table as text, to search for secrets."""
    return json.dumps(await db.fetch(f"SELECT * FROM {table}"), default=lambda v: v.hex() if isinstance(v, bytes)
                      else str(v))


def _failures(reason):
    return REGISTRY.get_sample_value("telecare_login_failures_total", {"reason": reason}) or 0.0


async def test_login_opens_a_session_stored_only_as_digests(identity, db):
    opened = await identity.login(creds())
    assert opened and opened.principal.kind is PrincipalKind.SESSION and opened.principal.name == "anna"
    assert opened.principal.roles == {Role.OPERATOR} and opened.expires_at == T0 + timedelta(hours=12)
    rows = await db.fetch("SELECT secret_hash, csrf_hash, user_name FROM sessions")
    assert rows == [{"secret_hash": digest(opened.secret), "csrf_hash": digest(opened.csrf_token), "user_name": "anna"}]
    dump = await _dump(db, "sessions") + await _dump(db, "users")
    assert opened.secret not in dump and opened.csrf_token not in dump and PASSWORD not in dump
    assert (await db.fetchval("SELECT password_hash FROM users")).startswith("$argon2id$")
    me = await identity.from_session(opened.secret)
    assert me == opened.principal


async def test_unknown_user_and_wrong_password_look_the_same_and_are_counted(identity, db):
    before = _failures("invalid")
    assert await identity.login(creds(password="wrong password!")) is None
    assert await identity.login(creds(name="nobody")) is None
    assert _failures("invalid") == before + 2
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0
    dump = await _dump(db, "login_attempts")
    assert "nobody" not in dump and "10.0.0.1" not in dump  # keys are digests
    assert await db.fetchval("SELECT count(*) FROM login_attempts WHERE key_kind = 'address'") == 2


async def test_five_failures_lock_the_name_for_15_minutes_even_with_the_right_password(identity, clock):
    for i in range(5):
        assert await identity.login(creds(password=f"wrong password {i}", addr=f"10.0.0.{i}")) is None
    before = _failures("locked")
    with pytest.raises(LoginLocked) as locked:
        await identity.login(creds(addr="10.9.9.9"))
    assert locked.value.retry_after_s == 900 and _failures("locked") == before + 1
    clock.advance(timedelta(minutes=15))
    assert await identity.login(creds()) is not None
    # A success clears the name's count: one more failure does not lock again.
    assert await identity.login(creds(password="wrong again!!")) is None
    assert await identity.login(creds()) is not None


async def test_one_address_trying_many_names_is_locked(identity):
    for i in range(20):
        assert await identity.login(creds(name=f"guess{i}", password="guessing")) is None
    with pytest.raises(LoginLocked):
        await identity.login(creds())
    assert await identity.login(creds(addr="10.0.0.2")) is not None  # the name itself is not locked


async def test_idle_timeout_and_absolute_expiry_end_sessions_and_delete_their_rows(identity, db, clock):
    idle = await identity.login(creds())
    clock.advance(timedelta(minutes=29))
    assert await identity.from_session(idle.secret) is not None  # touch: idle timer restarts
    clock.advance(timedelta(minutes=29))
    assert await identity.from_session(idle.secret) is not None
    clock.advance(timedelta(minutes=30))
    assert await identity.from_session(idle.secret) is None
    assert await db.fetchval("SELECT count(*) FROM sessions WHERE secret_hash = %s", (digest(idle.secret),)) == 0

    busy = await identity.login(creds())
    for _ in range(12 * 4 - 1):  # used every 15 minutes for just under 12 hours
        clock.advance(timedelta(minutes=15))
        assert await identity.from_session(busy.secret) is not None
    clock.advance(timedelta(minutes=15))
    assert await identity.from_session(busy.secret) is None
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0

    await identity.login(creds())  # a session left idle is pruned at the next sign-in, even if never used again
    clock.advance(timedelta(minutes=31))
    fresh = await identity.login(creds())
    assert await db.fetchval("SELECT array_agg(id) FROM sessions") == [fresh.principal.credential_id]


async def test_logout_deletes_the_session(identity, db):
    opened = await identity.login(creds())
    assert await identity.logout(opened.secret) is True
    assert await identity.from_session(opened.secret) is None
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0
    assert await identity.logout(opened.secret) is False


async def test_state_changes_need_the_sessions_csrf_token(identity):
    opened = await identity.login(creds())
    other = await identity.login(creds())
    with pytest.raises(CsrfMismatch):
        await identity.from_session(opened.secret, None, need_csrf=True)
    with pytest.raises(CsrfMismatch):
        await identity.from_session(opened.secret, other.csrf_token, need_csrf=True)
    assert await identity.from_session(opened.secret, opened.csrf_token, need_csrf=True) is not None


async def test_disabling_ends_sessions_refuses_login_and_tokens(identity, db):
    opened = await identity.login(creds())
    token = await identity.issue_token("anna", days=30)
    before = _failures("disabled")
    await identity.disable("anna")
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0
    assert await identity.from_session(opened.secret) is None
    assert await identity.login(creds()) is None and _failures("disabled") == before + 1
    assert await identity.from_bearer(token.secret) is None
    with pytest.raises(NotFound, match="user nobody does not exist"):
        await identity.disable("nobody")


async def test_api_tokens_are_stored_hashed_expire_and_can_be_revoked(identity, db, clock):
    await identity.create_user("carla", [Role.CARE_TEAM, Role.COORDINATOR], ["Equip Gràcia"], PASSWORD)
    issued = await identity.issue_token("carla", Role.CARE_TEAM, days=2, token_name="worklist export")
    dump = await _dump(db, "api_tokens")
    assert issued.secret not in dump and digest(issued.secret).hex() in dump
    principal = await identity.from_bearer(issued.secret)
    assert principal.kind is PrincipalKind.TOKEN and principal.credential_id == issued.id
    assert principal.roles == {Role.CARE_TEAM} and principal.teams == {"Equip Gràcia"}  # one role only
    assert await db.fetchval("SELECT last_used_at FROM api_tokens") == T0
    clock.advance(timedelta(days=2))
    assert await identity.from_bearer(issued.secret) is None  # expired

    second = await identity.issue_token("carla", Role.COORDINATOR, days=2)
    assert await identity.from_bearer(second.secret) is not None
    await identity.tokens.revoke(second.id, clock.now())
    assert await identity.from_bearer(second.secret) is None
    assert await identity.from_bearer("tct_" + "x" * 43) is None and await identity.from_bearer("garbage") is None
    with pytest.raises(InvalidInput, match="does not hold the role admin"):
        await identity.issue_token("carla", Role.ADMIN)


async def test_role_changes_apply_to_live_sessions(identity, clock):
    opened = await identity.login(creds())
    await identity.users.set_roles("anna", [Role.AUDITOR], [], clock.now())
    assert (await identity.from_session(opened.secret)).roles == {Role.AUDITOR}


async def test_duplicate_users_and_weak_passwords_are_refused(identity, db):
    with pytest.raises(ConflictError, match="user anna already exists"):
        await identity.create_user("Anna", [Role.ADMIN], password=PASSWORD)
    with pytest.raises(InvalidInput, match="at least 12"):
        await identity.create_user("bo", [Role.ADMIN], password="short")
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_demo_users_one_per_role_and_a_private_admin_token(db, clock, tmp_path):
    identity = Identity(db, clock, passwords=FAST)
    logins = await ensure_demo_users(identity, tmp_path, "Equip Gràcia")
    assert {x.role for x in logins} == set(Role) and len({x.password for x in logins}) == 7
    assert [x.name for x in logins if x.organisation == "municipal"] == ["social-worker"]
    assert await identity.users.organisation("social-worker") == "municipal"
    assert await identity.users.organisation("care-team") == "provider"
    token_file = tmp_path / "demo-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "demo-users.json").stat().st_mode) == 0o600
    admin = await identity.from_bearer(token_file.read_text().strip())
    assert admin.name == "admin" and admin.roles == {Role.ADMIN}
    for x in logins:
        opened = await identity.login(PasswordCredentials(x.name, x.password, "127.0.0.1"))
        assert opened.principal.roles == {x.role}
    assert (await identity.users.get("care-team")).teams == {"Equip Gràcia"}

    old_token = token_file.read_text().strip()
    again = await ensure_demo_users(identity, tmp_path, "Equip Gràcia")  # a restarted demo
    assert await identity.from_bearer(token_file.read_text().strip()) is not None
    assert await identity.from_bearer(old_token) is None  # the previous start's token is revoked
    assert await db.fetchval("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL") == 1
    assert await identity.login(PasswordCredentials("operator", logins[0].password, "127.0.0.1")) is None
    assert await identity.login(PasswordCredentials("operator", again[0].password, "127.0.0.1")) is not None
