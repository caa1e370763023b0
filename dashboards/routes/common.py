"""Request pieces shared by the routes: validated names and the signed-in operator."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import HTTPException, Request
from pydantic import StringConstraints

USER_COOKIE = "telecare_user"

# An operator's name as typed at sign-in or sent as `by`.
OperatorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


def signed_in_operator(request: Request) -> str:
    """The operator named by the telecare_user cookie; 401 when absent, so no read goes unattributed."""
    raw = request.cookies.get(USER_COOKIE, "")
    name = unquote(raw).strip()
    if not name or len(name) > 80:
        raise HTTPException(401, "sign in first: personal data reads are audited (cookie telecare_user)")
    return name


def sse(event: str, data: str) -> str:
    """One Server-Sent Events frame (data must be a single line of JSON)."""
    return f"event: {event}\ndata: {data}\n\n"
