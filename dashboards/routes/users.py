"""User administration for admins: list, create, disable users; issue and revoke API tokens. All audited."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from identity.model import Role, User
from identity.service import Identity

from dashboards.access import actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.routes.common import PathRowId, ShortText

UserName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class NewUser(BaseModel):
    name: ShortText = Field(min_length=1, max_length=64)
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    teams: list[Annotated[ShortText, Field(min_length=1, max_length=120)]] = Field(default_factory=list,
                                                                                   max_length=50)
    password: str | None = Field(None, min_length=1, max_length=1024, repr=False)
    display_name: ShortText = Field("", max_length=120)


class NewToken(BaseModel):
    role: Role | None = None
    days: int = Field(90, ge=1, le=3650)
    name: ShortText = Field("api", min_length=1, max_length=80)


def user_view(u: User) -> dict[str, Any]:
    """A user as JSON (no password hash)."""
    return {"name": u.name, "display_name": u.display_name, "roles": sorted(r.value for r in u.roles),
            "teams": sorted(u.teams), "disabled": u.disabled}


def router(identity: Identity, audit: AuditLog) -> APIRouter:
    """/api/users…"""
    api = APIRouter(prefix="/api/users", tags=["users"])

    async def audited(request: Request, action: AuditAction, detail: dict[str, Any]) -> None:
        await audit.record(actor(request), action, [], identity.clock.now(), detail)

    @api.get("", summary="Every user with roles, teams and state")
    async def list_users() -> list[dict[str, Any]]:
        return [user_view(u) for u in await identity.users.all()]

    @api.post("", status_code=201, summary="Create a user (with a password, or none for token-only use)")
    async def create(body: NewUser, request: Request) -> dict[str, Any]:
        user = await identity.create_user(body.name, body.roles, body.teams, body.password, body.display_name)
        await audited(request, AuditAction.USER_CREATE, {"user": user.name, "roles": sorted(user.roles)})
        return user_view(user)

    @api.post("/{name}/disable", summary="Disable a user: their sessions end and tokens stop at once")
    async def disable(name: UserName, request: Request) -> dict[str, Any]:
        await identity.disable(name.lower())
        await audited(request, AuditAction.USER_DISABLE, {"user": name.lower()})
        return user_view(await identity.users.get(name.lower()))

    @api.post("/{name}/tokens", status_code=201, summary="Issue an API token (the secret is shown only here)")
    async def issue(name: UserName, body: NewToken, request: Request) -> dict[str, Any]:
        issued = await identity.issue_token(name.lower(), body.role, body.days, body.name)
        await audited(request, AuditAction.TOKEN_ISSUE, {"user": name.lower(), "token_name": body.name})
        return {"token": issued.secret, "id": issued.id, "role": issued.role.value,
                "expires_at": issued.expires_at.isoformat()}

    @api.delete("/{name}/tokens/{token_id}", summary="Revoke an API token")
    async def revoke(name: UserName, token_id: PathRowId, request: Request) -> dict[str, Any]:
        await identity.tokens.revoke(token_id, identity.clock.now())
        await audited(request, AuditAction.TOKEN_REVOKE, {"user": name.lower(), "token_id": token_id})
        return {"revoked": token_id}

    return api
