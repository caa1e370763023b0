"""A part run without the web app answers /healthz from its Health registry and /metrics from the registry."""
from __future__ import annotations

import asyncio
import json
import socket

import pytest

from telecare.errors import ConfigError
from telecare.health import Health, PartState
from telecare.metrics import INGEST_MESSAGES
from telecare.part_http import part_port, respond, serve_part_http
from telecare.settings import load_settings


def _split(answer: bytes) -> tuple[str, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), body


def test_healthz_is_ok_only_while_every_part_is_ok() -> None:
    health = Health()
    health.report("ingest", PartState.OK)
    status, body = _split(respond(health, "GET", "/healthz"))
    assert status == "HTTP/1.1 200 OK" and json.loads(body)["parts"]["ingest"]["state"] == "ok"
    health.report("bus:kafka", PartState.RECONNECTING, "broker unreachable")
    status, body = _split(respond(health, "GET", "/healthz?verbose=1"))
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert json.loads(body)["status"] == "unavailable"
    assert json.loads(body)["parts"]["bus:kafka"]["detail"] == "broker unreachable"


def test_other_paths_and_methods_are_refused() -> None:
    assert _split(respond(Health(), "GET", "/"))[0].endswith("404 Not Found")
    assert _split(respond(Health(), "POST", "/metrics"))[0].endswith("405 Method Not Allowed")


async def test_the_server_serves_metrics_and_health_over_tcp() -> None:
    health = Health()
    health.report("rules", PartState.OK)
    INGEST_MESSAGES.labels(result="accepted").inc(0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = asyncio.Event()
    server = asyncio.create_task(serve_part_http(health, "127.0.0.1", port, ready))
    try:
        await asyncio.wait_for(ready.wait(), 5)

        async def get(path: str) -> tuple[str, bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return _split(answer)

        status, body = await get("/metrics")
        assert status == "HTTP/1.1 200 OK" and b'telecare_ingest_messages_total{result="accepted"}' in body
        status, body = await get("/healthz")
        assert status == "HTTP/1.1 200 OK" and json.loads(body)["status"] == "ok"
        # A client that sends garbage or nothing is dropped; the server goes on.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 10_000)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert (await get("/healthz"))[0] == "HTTP/1.1 200 OK"
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


def test_a_part_serves_only_when_its_port_is_configured(monkeypatch) -> None:
    monkeypatch.delenv("TELECARE_HTTP_PORT", raising=False)
    assert part_port(load_settings()) is None  # side by side on one host: nobody takes 8000
    monkeypatch.setenv("TELECARE_HTTP_PORT", "8000")  # the image's ENV (Dockerfile)
    settings = load_settings()
    assert part_port(settings) == 8000
    assert part_port(settings.model_copy(update={"bus": "kafka"})) == 8000  # `run` copies settings with its bus


async def test_a_port_in_use_fails_the_start_with_what_to_change() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*TELECARE_HTTP_PORT"):
            await serve_part_http(Health(), "127.0.0.1", port)
    finally:
        taken.close()
