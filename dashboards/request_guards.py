"""ASGI middleware: every request body has a size limit (checked before and while it is read), and no
path or query string carries control characters."""
from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telecare.metrics import HTTP_ERRORS


def too_large(limit: int) -> str:
    """The 413 message: says the limit, so a script author knows what to change."""
    return f"request body too large: the limit for this route is {limit} bytes"


class BodyLimit:
    """Refuse with 413 a declared Content-Length over the limit, and stop a streamed (chunked) body
    once it passes the limit, without ever holding more than the limit in memory."""

    def __init__(self, app: ASGIApp, default: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path or {})

    def limit_for(self, path: str) -> int:
        """The byte limit of a path (exact match; the default otherwise)."""
        return self.per_path.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, too_large(limit))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route's body read: FastAPI lets HTTPException through its body
                    # parsing, and the app's error map answers 413 like any other refusal.
                    raise HTTPException(413, too_large(limit))
            return message

        await self.app(scope, counted, send)


_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class ControlCharGuard:
    """400 for a path or query string with NUL or other control characters (percent-encoded or not):
    no id, name or filter needs one, and PostgreSQL cannot store NUL, so it must never reach a query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
            query = scope.get("query_string", b"")
            if _CONTROL.search(unquote_to_bytes(raw_path)) or _CONTROL.search(unquote_to_bytes(query)):
                await _answer(send, 400, "the URL must not contain control characters (such as NUL)")
                return
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # a malformed header: the server refuses it or the streamed count applies
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    """A JSON refusal in the error map's shape, sent before the app sees the request."""
    HTTP_ERRORS.labels(str(status)).inc()
    body = json.dumps({"detail": detail}).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode()),
                                          (b"connection", b"close")]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
