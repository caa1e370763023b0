"""The web server: uvicorn inside the caller's event loop (the only uvicorn import)."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import uvicorn

from telecare.errors import ConfigError


async def serve_web(app: Any, host: str, port: int, started: asyncio.Event | None = None) -> None:
    """Run uvicorn inside this event loop until cancelled."""
    # Live streams stay open forever; do not let them hold up shutdown.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    # The CLI owns Ctrl-C and SIGTERM: uvicorn (since 0.29) swaps in its own handlers with signal.signal
    # while it serves, which stopped the web server on its own, before the rest of the process, and cut its
    # lifespan short (a CancelledError traceback, the live hub never stopped). Keep them out.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit as err:  # uvicorn exits the process when it cannot bind; stop cleanly instead
            raise ConfigError(f"web server could not start on {host}:{port} (port in use?)") from err

    task = asyncio.create_task(serve())
    try:
        while not server.started:
            if task.done():
                await task
                raise ConfigError(f"web server could not start on {host}:{port}")
            await asyncio.sleep(0.05)
        if started is not None:
            started.set()
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        await asyncio.wait({task}, timeout=5)
