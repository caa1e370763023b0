"""Identity's pure rules: throttling decisions on a fake clock, session expiry and idle, token shape."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from identity.api_tokens import token_role
from identity.model import Principal, PrincipalKind, Role, User, parse_role, user_name
from identity.passwords import Passwords, check_new_password
from identity.sessions import SessionPolicy
from identity.throttle import KeyKind, Throttle, ThrottlePolicy
from identity.tokens import digest, looks_like_api_token, new_api_token, new_secret, same_secret
from identity.users import check_roles_and_teams
from telecare.clock import FakeClock
from telecare.errors import InvalidInput
from telecare.settings import load_settings

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


def test_four_failures_do_not_lock_the_fifth_within_the_window_does():
    clock, policy, fails = FakeClock(T0), ThrottlePolicy(), []
    for _ in range(4):
        fails.append(clock.now())
        clock.advance(2 * MIN)
    assert policy.locked_until(fails, clock.now()) is None
    fails.append(clock.now())
    assert policy.locked_until(fails, clock.now()) == clock.now() + 15 * MIN
    clock.advance(15 * MIN - timedelta(seconds=1))
    assert policy.locked_until(fails, clock.now()) is not None
    clock.advance(timedelta(seconds=1))
    assert policy.locked_until(fails, clock.now()) is None


def test_failures_spread_wider_than_the_window_never_lock():
    policy = ThrottlePolicy()
    fails = [T0 + i * 4 * MIN for i in range(10)]  # five failures always span 16 min > 15
    assert all(policy.locked_until(fails[: i + 1], fails[i]) is None for i in range(10))


def test_the_latest_qualifying_run_sets_the_lock_end():
    policy = ThrottlePolicy(max_failures=3, window=10 * MIN, lock=5 * MIN)
    fails = [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    assert policy.locked_until(fails, T0 + 3 * MIN) == T0 + 8 * MIN
    assert policy.horizon == 15 * MIN


def test_a_shared_address_gets_a_higher_threshold_than_a_name():
    throttle = Throttle()
    fails = [T0] * 5
    assert throttle.policy(KeyKind.USER).locked_until(fails, T0) is not None
    assert throttle.policy(KeyKind.ADDRESS).locked_until(fails, T0) is None
    assert throttle.policy(KeyKind.ADDRESS).locked_until([T0] * 20, T0) is not None


def test_a_session_lives_while_used_and_dies_idle_or_at_its_absolute_expiry():
    policy, clock = SessionPolicy(), FakeClock(T0)
    expires = policy.expires_at(T0)
    assert expires == T0 + timedelta(hours=12)
    last_seen = T0
    while clock.advance(29 * MIN) < expires:  # used every 29 minutes: never idle
        assert policy.alive(expires, last_seen, clock.now())
        last_seen = clock.now()
    assert not policy.alive(expires, last_seen, clock.now())  # past 12 h although active
    assert policy.alive(expires, T0, T0 + 29 * MIN)
    assert not policy.alive(expires, T0, T0 + 30 * MIN)  # idle timeout reached


def test_the_idle_touch_is_rate_limited():
    policy = SessionPolicy()
    assert not policy.needs_touch(T0, T0 + timedelta(seconds=29))
    assert policy.needs_touch(T0, T0 + timedelta(seconds=30))


def test_secrets_carry_256_bits_and_only_their_sha256_is_kept():
    token = new_api_token()
    assert re.fullmatch(r"tct_[A-Za-z0-9_-]{43}", token) and looks_like_api_token(token)
    assert len({new_secret() for _ in range(100)}) == 100 and len(new_secret()) == 43
    assert not looks_like_api_token("Bearer nonsense") and not looks_like_api_token("tct_short")
    assert len(digest(token)) == 32 and same_secret(token, digest(token)) and not same_secret(token + "x", digest(token))


def test_passwords_are_argon2id_and_an_unknown_user_never_verifies():
    pw = Passwords(time_cost=1, memory_kib=8192, parallelism=1)
    encoded = pw.hash("correct horse battery")
    assert encoded.startswith("$argon2id$") and "correct" not in encoded
    assert pw.verify(encoded, "correct horse battery") and not pw.verify(encoded, "wrong horse battery")
    assert not pw.verify(None, "correct horse battery") and not pw.verify(None, "no such user, no such password")
    assert not pw.verify("not a hash", "x") and not pw.verify(encoded, "x" * 2000)
    assert Passwords().needs_rehash(encoded)  # weaker than the production parameters
    with pytest.raises(InvalidInput, match="at least 12"):
        check_new_password("short")


def test_roles_names_and_teams_are_validated_with_clear_messages():
    assert parse_role("care-team") is Role.CARE_TEAM and parse_role(" Admin ") is Role.ADMIN
    with pytest.raises(InvalidInput, match=r"unknown role 'nurse' \(choose from operator, care_team"):
        parse_role("nurse")
    assert user_name(" Anna.Serra ") == "anna.serra"
    with pytest.raises(InvalidInput, match="invalid user name"):
        user_name("anna serra")
    assert check_roles_and_teams([Role.CARE_TEAM], ["Equip Gràcia"]) == (frozenset({Role.CARE_TEAM}),
                                                                          frozenset({"Equip Gràcia"}))
    with pytest.raises(InvalidInput, match="care_team needs at least one team"):
        check_roles_and_teams([Role.CARE_TEAM], [])
    with pytest.raises(InvalidInput, match="teams apply only"):
        check_roles_and_teams([Role.INSTALLER], ["Equip Gràcia"])
    with pytest.raises(InvalidInput, match="at least one role"):
        check_roles_and_teams([], [])


def test_a_token_gets_exactly_one_role_the_user_holds():
    single = User("ana", "", frozenset({Role.INSTALLER}))
    several = User("bo", "", frozenset({Role.ADMIN, Role.AUDITOR}))
    assert token_role(single, None) is Role.INSTALLER and token_role(several, Role.AUDITOR) is Role.AUDITOR
    with pytest.raises(InvalidInput, match="several roles"):
        token_role(several, None)
    with pytest.raises(InvalidInput, match="does not hold the role operator"):
        token_role(several, Role.OPERATOR)


def test_the_principal_view_is_json_without_secrets():
    p = Principal("ana", frozenset({Role.OPERATOR, Role.AUDITOR}), frozenset(), PrincipalKind.SESSION, 7, "Ana")
    assert p.view() == {"name": "ana", "display_name": "Ana", "roles": ["auditor", "operator"], "teams": [],
                        "kind": "session", "id": 7}
    assert p.has(Role.AUDITOR) and not p.has(Role.ADMIN, Role.INSTALLER)
    with pytest.raises(AttributeError):
        p.name = "eve"  # type: ignore[misc]


def test_cookies_are_secure_behind_https_or_when_asked(monkeypatch):
    monkeypatch.delenv("TELECARE_SECURE_COOKIES", raising=False)
    monkeypatch.delenv("TELECARE_PUBLIC_BASE_URL", raising=False)
    assert not load_settings().cookies_secure
    assert load_settings(public_base_url="https://telecare.example").cookies_secure
    assert load_settings(secure_cookies=True).cookies_secure
    assert not load_settings(public_base_url="https://x", secure_cookies=False).cookies_secure
    s = load_settings()
    assert (s.session_max_s, s.session_idle_s, s.login_max_failures) == (12 * 3600, 1800, 5)
