"""`--help` of every command describes every option, and every database command takes --data-dir."""
from __future__ import annotations

import argparse
import subprocess
import sys

from entrypoints.cli import _parser

DATABASE_COMMANDS = [["demo"], ["run", "web"], ["db", "upgrade"], ["devices", "list"], ["devices", "import", "f"],
                     ["weather", "ingest", "x.xml"], ["gdpr", "export", "r1", "-o", "f.zip"], ["gdpr", "erase", "r1"],
                     ["audit", "report", "--since", "72h"]]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) of every command and sub-command."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_every_argument_of_every_command_has_help():
    missing = [(" ".join(path) or "telecare", action.dest)
               for path, parser in _commands(_parser()) for action in parser._actions
               if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
    assert not missing, missing
    sub_commands = [path for path, _ in _commands(_parser()) if path]
    assert len(sub_commands) >= 9  # demo, run, db, devices (+ import, list), simulate, weather, bench


def test_every_command_that_opens_the_database_takes_data_dir():
    for argv in DATABASE_COMMANDS:
        args = _parser().parse_args([*argv, "--data-dir", "/somewhere"])
        assert str(args.data_dir) == "/somewhere", argv


def test_help_output_names_the_options():
    out = subprocess.run([sys.executable, "-m", "entrypoints.cli", "devices", "import", "--help"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "--data-dir DIR" in out and "TELECARE_DATA_DIR" in out and "YAML or JSON file" in out
    out = subprocess.run([sys.executable, "-m", "entrypoints.cli", "demo", "--help"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "TELECARE_MQTT_PORT" in out and "--no-simulator" in out and "do not simulate" in out
