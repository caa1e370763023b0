"""docker-compose.yml read the way Compose reads it, for the structural and the native stack tests."""
from __future__ import annotations

import re
import shlex
import subprocess
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = "deploy/secrets"  # written by deploy/secrets/make-secrets.sh, never in git
APP_IMAGE = "telecare:latest"
PART_PORT = 8000  # every telecare process's /healthz and /metrics inside its container
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """${VAR:-default} -> default, as Compose does with VAR unset (the tests never depend on the caller's env)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


def load() -> dict[str, Any]:
    """The compose file with anchors and merge keys resolved and variables at their defaults."""
    return _interpolate(yaml.safe_load(COMPOSE.read_text()))


def services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Service name -> definition."""
    return spec["services"]


def is_app(service: dict[str, Any]) -> bool:
    """Built from the repository's Dockerfile (runs the `telecare` command)."""
    return service.get("image") == APP_IMAGE or "build" in service


def is_one_shot(service: dict[str, Any]) -> bool:
    """A job that runs once and exits (migrations, the broker's accounts)."""
    return service.get("restart") == "no"


def app_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The long-running telecare processes (`telecare run <part>`)."""
    return {n: s for n, s in services(spec).items() if is_app(s) and not is_one_shot(s)}


def telecare_argvs(service: dict[str, Any]) -> list[list[str]]:
    """Each `telecare ...` invocation of a service: its command, or the telecare steps of an `sh -c` script."""
    if service.get("entrypoint") is None:
        return [list(service["command"])]
    entry = list(service["entrypoint"])
    assert entry == ["sh", "-c"], f"unexpected entrypoint {entry}"
    script = " ".join(service["command"])
    steps = [shlex.split(step) for step in script.split("&&")]
    return [step[1:] for step in steps if step and step[0] == "telecare"]


def run_choices() -> list[str]:
    """The parts `telecare run` accepts, read from the CLI's own parser (not a list kept here)."""
    import argparse

    from entrypoints.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(next(a for a in sub.choices["run"]._actions if a.dest == "part").choices)


def part_of(service: dict[str, Any]) -> str:
    """The part a long-running telecare service runs (`run <part>`)."""
    argv = list(service["command"])
    assert argv[0] == "run", f"a long-running telecare service runs a part: {argv}"
    return argv[1]


def env_files(service: dict[str, Any]) -> list[str]:
    """The service's env_file entries (paths relative to the repository)."""
    files = service.get("env_file") or []
    return [files] if isinstance(files, str) else [f if isinstance(f, str) else f["path"] for f in files]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (comments and blanks skipped), as Compose reads an env_file."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def environment(service: dict[str, Any], secrets_dir: Path) -> dict[str, str]:
    """The service's environment: its env files (secrets from `secrets_dir`), then `environment` over them."""
    env: dict[str, str] = {}
    for name in env_files(service):
        env.update(read_env_file(secrets_path(name, secrets_dir)))
    env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


def secrets_path(relative: str, secrets_dir: Path) -> Path:
    """A repository path, with deploy/secrets/... taken from where make-secrets.sh wrote them."""
    rel = relative.removeprefix("./")
    if rel == SECRETS or rel.startswith(SECRETS + "/"):
        return secrets_dir / rel.removeprefix(SECRETS).lstrip("/")
    return ROOT / rel


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path relative to the repository, container path) of every bind mount (named volumes left out)."""
    out = []
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out.append((source.removeprefix("./"), target))
    return out


def make_secrets(into: Path) -> Path:
    """Run deploy/secrets/make-secrets.sh into a fresh directory (as an operator would, once)."""
    subprocess.run(["sh", str(ROOT / SECRETS / "make-secrets.sh"), str(into)], check=True, capture_output=True)
    return into


def start_order(spec: dict[str, Any]) -> list[str]:
    """Services in an order that satisfies every depends_on (Compose's start order); raises on a cycle."""
    graph = {name: set((s.get("depends_on") or {})) for name, s in services(spec).items()}
    return list(TopologicalSorter(graph).static_order())
