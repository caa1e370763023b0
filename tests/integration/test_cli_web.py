"""`telecare run web` on a port that is taken stops with a clear message, not a traceback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys


def test_taken_web_port_is_a_clear_error(db_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
        env.update(TELECARE_DATABASE_URL=db_url, TELECARE_HTTP_PORT=str(port), TELECARE_LOG_LEVEL="WARNING")
        proc = subprocess.run([sys.executable, "-m", "entrypoints.cli", "run", "web"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"could not start on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
