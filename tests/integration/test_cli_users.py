"""`telecare users …` as subprocesses: with --data-dir (embedded PostgreSQL there), and against a test database."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

from identity.service import Identity
from telecare.clock import SystemClock


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(TELECARE_LOG_LEVEL="WARNING", **extra)
    return env


def _users(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", "users", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_users_in_a_data_dir_create_token_list_and_clear_errors(tmp_root):
    # Outside pytest's tmp_path: another pytest run may reset /tmp/pytest-of-root to 0700, locking pgserver out.
    env, data = _env(), ["--data-dir", str(tmp_root / f"users-{uuid.uuid4().hex[:8]}")]
    refused = _users("list", *data, env=env)
    assert refused.returncode == 2 and "no database in" in refused.stderr  # users never create a database
    upgraded = subprocess.run([sys.executable, "-m", "entrypoints.cli", "db", "upgrade", *data], env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    created = _users("create", "anna", "--role", "operator", "--role", "auditor", *data, env=env)
    assert created.returncode == 0, created.stderr[-2000:]
    assert "created user anna: roles auditor, operator" in created.stdout
    assert "password (shown once" in created.stdout and len(created.stdout.split()[-1]) >= 20

    token = _users("token", "anna", "--role", "auditor", "--days", "7", *data, env=env)
    assert token.returncode == 0, token.stderr[-2000:]
    assert token.stdout.split()[-1].startswith("tct_") and "role auditor" in token.stdout

    listed = _users("list", *data, env=env)
    assert listed.returncode == 0 and "anna" in listed.stdout and "auditor,operator" in listed.stdout
    assert token.stdout.split()[-1] not in listed.stdout

    social = _users("create", "marta", "--role", "care_team", "--team", "Nord", "--organisation", "municipal",
                    *data, env=env)
    assert social.returncode == 0 and "; organisation municipal" in social.stdout, social.stderr[-2000:]

    bad_role = _users("create", "bo", "--role", "nurse", *data, env=env)
    assert bad_role.returncode == 2 and "unknown role 'nurse'" in bad_role.stderr
    assert "Traceback" not in bad_role.stderr


async def test_the_printed_token_works_and_unknown_users_exit_2(db_url, db):
    env = _env(TELECARE_DATABASE_URL=db_url)
    created = _users("create", "carla", "--role", "care_team", "--team", "Equip Gràcia", "--password-stdin",
                     env=env, stdin="a long typed password\n")
    assert created.returncode == 0, created.stderr[-2000:]
    assert "password" not in created.stdout  # nothing generated, nothing shown
    token = _users("token", "carla", env=env)
    assert token.returncode == 0, token.stderr[-2000:]
    principal = await Identity(db, SystemClock()).from_bearer(token.stdout.split()[-1])
    assert principal is not None and principal.name == "carla" and principal.teams == {"Equip Gràcia"}

    missing = _users("token", "nobody", env=env)
    assert missing.returncode == 2 and "user nobody does not exist" in missing.stderr
    disabled = _users("disable", "carla", env=env)
    assert disabled.returncode == 0 and "disabled user carla" in disabled.stdout
    assert await Identity(db, SystemClock()).from_bearer(token.stdout.split()[-1]) is None
    short = _users("create", "dani", "--role", "admin", "--password-stdin", env=env, stdin="short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
