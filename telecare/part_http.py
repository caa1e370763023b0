"""/healthz and /metrics for a part run alone without the web app (ingest, store, rules, alerts, outreach).

The production stack (docker-compose.yml) health-checks every part and Prometheus scrapes every part: the
counters of ingest live in the ingest processes, so a web process's /metrics alone would show no ingest
rate at all. A part's health is its Health registry only (the web app's /healthz also pings the database).
Plain asyncio streams, GET only, no request body: this is an internal port, never a public one.
"""
from __future__ import annotations

import asyncio
import json
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from telecare.errors import ConfigError
from telecare.health import Health
from telecare.metrics import REGISTRY
from telecare.settings import Settings

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 8192


def part_port(settings: Settings) -> int | None:
    """The port a part run alone serves on: TELECARE_HTTP_PORT when it is set (the image sets 8000), else none, so
    parts started side by side on one host without it never fight over the web app's default port."""
    return settings.http_port if "http_port" in settings.model_fields_set else None


def _answer(status: str, content_type: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n")
    return head.encode() + body


def health_report(health: Health) -> tuple[bool, dict]:
    """(healthy, the /healthz body) of a part: its Health registry only, every part's state and detail."""
    ok = health.ok
    return ok, {"status": "ok" if ok else "unavailable",
                "parts": {p.part: {"state": p.state.value, "detail": p.detail, "since": p.since.isoformat()}
                          for p in health.parts()}}


def respond(health: Health, method: str, path: str) -> bytes:
    """The whole HTTP answer to one request line (pure: the tests call it directly too)."""
    path = path.split("?", 1)[0]
    if method not in ("GET", "HEAD"):
        return _answer("405 Method Not Allowed", "text/plain", b"GET only\n")
    if path == "/metrics":
        return _answer("200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
    if path == "/healthz":
        ok, body = health_report(health)
        return _answer("200 OK" if ok else "503 Service Unavailable", "application/json",
                       json.dumps(body).encode())
    return _answer("404 Not Found", "text/plain", b"only /healthz and /metrics here\n")


async def _handle(health: Health, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        if len(head) > MAX_REQUEST_BYTES:
            raise ValueError("request head too large")
        method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        writer.write(respond(health, method, path))
        await writer.drain()
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            ConnectionError) as err:
        log.debug("part http: dropped a bad request (%s)", type(err).__name__)
    finally:
        writer.close()


async def serve_part_http(health: Health, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve /healthz and /metrics on host:port until cancelled (run it as a watched task named "http")."""
    try:
        server = await asyncio.start_server(lambda r, w: _handle(health, r, w), host, port, limit=MAX_REQUEST_BYTES)
    except OSError as err:
        raise ConfigError(f"the part's /healthz and /metrics could not be served on {host}:{port} "
                          f"({err.strerror or err}): set TELECARE_HTTP_PORT to a free port") from err
    log.info("part endpoints on http://%s:%d/healthz and /metrics", host, port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()
