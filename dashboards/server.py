"""The web server: uvicorn inside the caller's event loop (the only uvicorn import)."""
from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from telecare.errors import ConfigError


async def serve_web(app: Any, host: str, port: int, started: asyncio.Event | None = None) -> None:
    """Run uvicorn inside this event loop until cancelled."""
    # Live streams stay open forever; do not let them hold up shutdown.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the CLI owns Ctrl-C

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
