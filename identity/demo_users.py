"""The demo's users: one per role, fresh passwords on every start, and an admin API token file."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from identity.model import TEAM_ROLES, Organisation, Role
from identity.service import Identity
from identity.tokens import new_password

DEMO_TOKEN_NAME = "demo"
TOKEN_FILE = "demo-token"
USERS_FILE = "demo-users.json"
# A municipal social worker on the demo care team: the resident page's shared record has both organisations.
SOCIAL_WORKER = "social-worker"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    name: str
    role: Role
    password: str
    organisation: Organisation = Organisation.PROVIDER


def demo_user_name(role: Role) -> str:
    """operator, care-team, coordinator, installer, admin, auditor."""
    return role.value.replace("_", "-")


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600, never world-readable in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


async def ensure_demo_users(identity: Identity, data_dir: Path, team: str) -> list[DemoLogin]:
    """Create (or re-password) one user per role; write an admin token to data_dir/demo-token (0600) and
    the logins to data_dir/demo-users.json (0600); return the logins to print."""
    logins = []
    for role in Role:
        name, password = demo_user_name(role), new_password()
        teams = [team] if role in TEAM_ROLES else []
        if await identity.users.find(name) is None:
            await identity.create_user(name, [role], teams, password, display_name=f"Demo {role.value.replace('_', ' ')}")
        else:
            await identity.users.set_roles(name, [role], teams, identity.clock.now())
            await identity.set_password(name, password)
        logins.append(DemoLogin(name, role, password))
    password = new_password()
    if await identity.users.find(SOCIAL_WORKER) is None:
        await identity.create_user(SOCIAL_WORKER, [Role.CARE_TEAM], [team], password,
                                   display_name="Demo social worker (municipal)")
    else:
        await identity.users.set_roles(SOCIAL_WORKER, [Role.CARE_TEAM], [team], identity.clock.now())
        await identity.set_password(SOCIAL_WORKER, password)
    await identity.users.set_organisation(SOCIAL_WORKER, Organisation.MUNICIPAL, identity.clock.now())
    logins.append(DemoLogin(SOCIAL_WORKER, Role.CARE_TEAM, password, Organisation.MUNICIPAL))
    admin = demo_user_name(Role.ADMIN)
    await identity.tokens.revoke_named(admin, DEMO_TOKEN_NAME, identity.clock.now())
    issued = await identity.issue_token(admin, Role.ADMIN, days=30, token_name=DEMO_TOKEN_NAME)
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(data_dir / TOKEN_FILE, issued.secret + "\n")
    _write_private(data_dir / USERS_FILE, json.dumps(
        {x.name: {"password": x.password, "role": x.role.value} for x in logins}, indent=2) + "\n")
    return logins


def format_logins(logins: list[DemoLogin], data_dir: Path) -> str:
    """The block the demo prints at start."""
    lines = ["  Sign in as (name / password, new on every start):"]
    lines += [f"    {x.role.value:<12} {x.name:<13} {x.password}"
              + ("  (municipal social services)" if x.organisation is Organisation.MUNICIPAL else "") for x in logins]
    lines.append(f"  Admin API token      : {(data_dir / TOKEN_FILE).resolve()} (Authorization: Bearer …)")
    return "\n".join(lines)
