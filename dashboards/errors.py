"""The web edge's one error map: exception type -> HTTP status, with a message safe to show an operator."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from telecare.errors import (
    BrokerError, BusError, ConfigError, ConflictError, InvalidInput, NotFound, StoreError, TelecareError, TelephonyError,
)
from telecare.metrics import HTTP_ERRORS

from dashboards.views import readable_errors

log = logging.getLogger(__name__)

# Most specific first (ConflictError is a StoreError). Our errors' messages are operator-safe by design.
# A database, broker or bus that failed or is unreachable is 503 (retry later) everywhere, never 500.
ERROR_MAP: tuple[tuple[type[TelecareError], int], ...] = (
    (NotFound, 404),
    (ConflictError, 409),
    (InvalidInput, 400),
    (StoreError, 503),
    (BrokerError, 503),
    (BusError, 503),  # the Kafka bus did not take a message in time: retry later
    (TelephonyError, 502),
    (ConfigError, 500),
    (TelecareError, 500),
)
UNEXPECTED = "internal error; the failure was logged"


def status_for(err: BaseException) -> int:
    """The HTTP status of an exception under the one map (500 for anything not ours)."""
    for exc_type, status in ERROR_MAP:
        if isinstance(err, exc_type):
            return status
    return 500


def error_response(request: Request | None, status: int, detail: Any,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Answer {"detail": ...}; count client rejections; log server-side failures by path, never the body."""
    if status < 500:
        HTTP_ERRORS.labels(str(status)).inc()
    elif request is not None:
        # The route's template, not the URL: paths such as /api/users/{name} would put people's names in logs.
        route = request.scope.get("route")
        log.warning("%s %s -> %s", request.method, getattr(route, "path", "(no route)"), status)
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Make the map the app's only translation of errors into answers."""

    async def ours(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        return error_response(request, status, str(exc) if status != 500 else UNEXPECTED)

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, readable_errors(exc.errors()))

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, exc.detail, dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug. Starlette re-raises it after this answer, so the server logs the traceback (no body in it).
        return error_response(None, 500, UNEXPECTED)

    app.add_exception_handler(TelecareError, ours)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
