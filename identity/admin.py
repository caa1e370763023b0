"""`telecare users …`: the administration commands, returning the text to print."""
from __future__ import annotations

from identity.model import Organisation, parse_role
from identity.service import Identity
from identity.tokens import new_password


async def cli_create(identity: Identity, name: str, roles: list[str], teams: list[str],
                     password: str | None, display_name: str = "",
                     organisation: str = Organisation.PROVIDER) -> str:
    """Create a user; without a password given, generate one and show it once."""
    parsed = [parse_role(r) for r in roles]
    generated = password is None
    password = new_password() if generated else password
    user = await identity.create_user(name, parsed, teams, password, display_name)
    if Organisation(organisation) is not Organisation.PROVIDER:
        await identity.users.set_organisation(user.name, Organisation(organisation), identity.clock.now())
    lines = [f"created user {user.name}: roles {', '.join(sorted(user.roles))}"
             + (f"; teams {', '.join(sorted(user.teams))}" if user.teams else "")
             + (f"; organisation {organisation}" if Organisation(organisation) is not Organisation.PROVIDER else "")]
    if generated:
        lines.append(f"password (shown once, store it now): {password}")
    return "\n".join(lines)


async def cli_token(identity: Identity, name: str, role: str | None, days: int, token_name: str) -> str:
    """Issue an API token; the token is the last word of the output."""
    issued = await identity.issue_token(name, parse_role(role) if role else None, days, token_name)
    return (f"API token {issued.id} '{issued.name}' for {name.strip().lower()}: role {issued.role.value}, "
            f"expires {issued.expires_at:%Y-%m-%d %H:%M} UTC. Shown once, store it now:\n{issued.secret}")


async def cli_list(identity: Identity) -> str:
    """One line per user: name, state, roles, teams, live token count."""
    users = await identity.users.all()
    if not users:
        return "no users (create one with: telecare users create NAME --role admin)"
    now = identity.clock.now()
    live: dict[str, int] = {}
    for t in await identity.tokens.list():
        if t["revoked_at"] is None and t["expires_at"] > now:
            live[t["user_name"]] = live.get(t["user_name"], 0) + 1
    rows = [("NAME", "STATE", "ROLES", "TEAMS", "TOKENS")]
    rows += [(u.name, "disabled" if u.disabled else "active", ",".join(sorted(u.roles)),
              ",".join(sorted(u.teams)) or "-", str(live.get(u.name, 0))) for u in users]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4] for r in rows)


async def cli_disable(identity: Identity, name: str) -> str:
    """Disable a user."""
    await identity.disable(name)
    return f"disabled user {name.strip().lower()}: sessions ended, API tokens no longer accepted"
