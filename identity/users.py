"""The users, user_roles and user_teams tables' one writer."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from telecare.errors import ConflictError, InvalidInput, NotFound
from telecare.i18n import Language
from telecare.store import Database, Tx

from identity.model import TEAM_ROLES, Organisation, Role, User, user_name

_SELECT = """
SELECT u.name, u.display_name, u.disabled, u.created_at, u.updated_at,
       ARRAY(SELECT role FROM user_roles r WHERE r.user_name = u.name ORDER BY role) AS roles,
       ARRAY(SELECT team FROM user_teams t WHERE t.user_name = u.name ORDER BY team) AS teams
FROM users u
"""


def _user(row: dict[str, Any]) -> User:
    return User(row["name"], row["display_name"], frozenset(Role(r) for r in row["roles"]),
                frozenset(row["teams"]), row["disabled"], row["created_at"], row["updated_at"])


def check_roles_and_teams(roles: Iterable[Role], teams: Iterable[str]) -> tuple[frozenset[Role], frozenset[str]]:
    """Validated roles and teams: at least one role; teams exactly when a team-scoped role is held."""
    roles, teams = frozenset(roles), frozenset(t.strip() for t in teams)
    if not roles:
        raise InvalidInput("a user needs at least one role")
    if any(not t or len(t) > 120 for t in teams):
        raise InvalidInput("a team name must have 1-120 characters")
    scoped = roles & TEAM_ROLES
    if scoped and not teams:
        raise InvalidInput(f"role {sorted(scoped)[0].value} needs at least one team (--team)")
    if teams and not scoped:
        raise InvalidInput("teams apply only to the care_team and coordinator roles")
    return roles, teams


class UserStore:
    """Create, read, list and disable users; set password hashes (hashing happens in identity.passwords)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, roles: Iterable[Role], teams: Iterable[str], password_hash: str | None,
                     now: datetime, display_name: str = "") -> User:
        """Insert a new user; ConflictError when the name is taken."""
        name = user_name(name)
        roles, teams = check_roles_and_teams(roles, teams)
        async with self._db.transaction() as tx:
            if await tx.fetchval("SELECT 1 FROM users WHERE name = %s", (name,)):
                raise ConflictError(f"user {name} already exists")
            await tx.execute("INSERT INTO users (name, display_name, password_hash, created_at, updated_at) "
                             "VALUES (%s, %s, %s, %s, %s)", (name, display_name.strip(), password_hash, now, now))
            await self._set_roles(tx, name, roles, teams)
        return await self.get(name)

    async def _set_roles(self, tx: Tx, name: str, roles: frozenset[Role], teams: frozenset[str]) -> None:
        await tx.execute("DELETE FROM user_roles WHERE user_name = %s", (name,))
        await tx.execute("DELETE FROM user_teams WHERE user_name = %s", (name,))
        await tx.executemany("INSERT INTO user_roles (user_name, role) VALUES (%s, %s)",
                             [(name, r.value) for r in sorted(roles)])
        if teams:
            await tx.executemany("INSERT INTO user_teams (user_name, team) VALUES (%s, %s)",
                                 [(name, t) for t in sorted(teams)])

    async def set_organisation(self, name: str, organisation: Organisation, now: datetime) -> None:
        """Say which organisation employs the user (NotFound for an unknown user)."""
        name = user_name(name)
        async with self._db.transaction() as tx:
            if not await tx.fetchval("SELECT 1 FROM users WHERE name = %s FOR SHARE", (name,)):
                raise NotFound(f"user {name} does not exist")
            await tx.execute(
                """INSERT INTO user_organisations (user_name, organisation, updated_at) VALUES (%s, %s, %s)
                   ON CONFLICT (user_name) DO UPDATE SET organisation = EXCLUDED.organisation,
                                                         updated_at = EXCLUDED.updated_at""",
                (name, Organisation(organisation).value, now))

    async def organisation(self, name: str) -> Organisation:
        """The user's organisation (the provider for a name that is not a user, e.g. 'system')."""
        value = await self._db.fetchval("SELECT organisation FROM user_organisations WHERE user_name = %s", (name,))
        return Organisation(value or Organisation.PROVIDER)

    async def find(self, name: str) -> User | None:
        """The user, or None."""
        row = await self._db.fetchrow(_SELECT + " WHERE u.name = %s", (name.strip().lower(),))
        return _user(row) if row else None

    async def get(self, name: str) -> User:
        """The user, or NotFound."""
        user = await self.find(name)
        if user is None:
            raise NotFound(f"user {name.strip().lower()} does not exist")
        return user

    async def all(self) -> list[User]:
        """Every user, by name."""
        return [_user(r) for r in await self._db.fetch(_SELECT + " ORDER BY u.name")]

    async def password_hash(self, name: str) -> tuple[str | None, bool] | None:
        """(password hash, disabled) for a login, or None for an unknown name."""
        row = await self._db.fetchrow("SELECT password_hash, disabled FROM users WHERE name = %s",
                                      (name.strip().lower(),))
        return (row["password_hash"], row["disabled"]) if row else None

    async def set_password_hash(self, name: str, password_hash: str, now: datetime) -> None:
        """Replace a user's password hash (NotFound for an unknown user)."""
        n = await self._db.execute("UPDATE users SET password_hash = %s, updated_at = %s WHERE name = %s",
                                   (password_hash, now, name))
        if not n:
            raise NotFound(f"user {name} does not exist")

    async def language(self, name: str) -> Language | None:
        """The language a user chose for the pages; None when they never chose (the service's applies)."""
        value = await self._db.fetchval("SELECT language FROM users WHERE name = %s", (name,))
        return Language(value) if value else None

    async def set_language(self, name: str, language: Language | None, now: datetime) -> None:
        """Record a user's language (None: back to the service's); NotFound for an unknown user."""
        n = await self._db.execute("UPDATE users SET language = %s, updated_at = %s WHERE name = %s",
                                   (language.value if language else None, now, name))
        if not n:
            raise NotFound(f"user {name} does not exist")

    async def set_roles(self, name: str, roles: Iterable[Role], teams: Iterable[str], now: datetime) -> User:
        """Replace a user's roles and teams."""
        roles, teams = check_roles_and_teams(roles, teams)
        async with self._db.transaction() as tx:
            if not await tx.execute("UPDATE users SET updated_at = %s WHERE name = %s", (now, name)):
                raise NotFound(f"user {name} does not exist")
            await self._set_roles(tx, name, roles, teams)
        return await self.get(name)

    async def disable(self, name: str, now: datetime) -> None:
        """Disable a user and end their sessions at once; their API tokens stop working (checked on use)."""
        name = name.strip().lower()
        async with self._db.transaction() as tx:
            if not await tx.execute("UPDATE users SET disabled = true, updated_at = %s WHERE name = %s", (now, name)):
                raise NotFound(f"user {name} does not exist")
            await tx.execute("DELETE FROM sessions WHERE user_name = %s", (name,))
