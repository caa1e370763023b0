"""docker-compose.yml against the code: commands the CLI has, settings it knows, files that exist, sane wiring.

There is no Docker engine here, so the file is checked structurally; tests/unit/test_compose_files.py checks
the mounted configuration files and tests/integration/test_compose_native.py runs the parts natively.
"""
from __future__ import annotations

import base64
import os
import re
import tomllib
from pathlib import Path

import pytest

from demo.kafka_broker import KAFKA_VERSION, SERVER_PROPERTIES
from entrypoints.cli import _parser
from telecare.settings import Settings, bus_for, load_settings
from tests import compose_spec as cs

SPEC = cs.load()
SERVICES = cs.services(SPEC)
APPS = cs.app_services(SPEC)
SECRET_SETTINGS = {"TELECARE_DATABASE_URL", "TELECARE_MQTT_PASSWORD", "TELECARE_TWILIO_AUTH_TOKEN",
                   "TELECARE_TWILIO_ACCOUNT_SID"}


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cs.make_secrets(tmp_path_factory.mktemp("secrets") / "secrets")


def test_the_stack_has_every_part_of_the_issue() -> None:
    parts = sorted(cs.part_of(s) for s in APPS.values())
    assert parts == sorted(["ingest", "ingest", "store", "rules", "rules", "alerts", "web", "web", "outreach"])
    infra = {"timescaledb", "mosquitto", "kafka", "proxy", "prometheus", "grafana"}
    assert infra <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(APPS))
def test_each_part_is_a_part_the_cli_runs(name: str) -> None:
    """Fails for `store` and `alerts` until the CLI's `run` offers them (issue 9's six part names)."""
    part = cs.part_of(APPS[name])
    assert part in cs.run_choices(), f"{name}: `telecare run {part}` is not in the CLI's choices {cs.run_choices()}"


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if cs.is_app(s) and cs.is_one_shot(s)))
def test_every_one_shot_telecare_command_parses(name: str) -> None:
    argvs = cs.telecare_argvs(SERVICES[name])
    assert argvs
    for argv in argvs:
        try:
            _parser().parse_args(argv)
        except SystemExit as err:  # argparse's way of refusing
            pytest.fail(f"{name}: `telecare {' '.join(argv)}` is refused by the CLI ({err})")


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if cs.is_app(s)))
def test_every_telecare_variable_is_a_setting_and_validates(name: str, secrets_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    known = {f"TELECARE_{field.upper()}" for field in Settings.model_fields}
    env = cs.environment(SERVICES[name], secrets_dir)
    unknown = sorted(k for k in env if k.startswith("TELECARE_") and k not in known)
    assert not unknown, f"{name}: not settings of telecare/settings.py: {unknown}"
    for key in [k for k in os.environ if k.startswith("TELECARE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()  # ConfigError names the variable if a value is refused
    assert settings.bus == "kafka" and settings.kafka_bootstrap == "kafka:9092"
    assert settings.database_url and settings.database_url.startswith("postgresql://telecare:")
    assert settings.http_host == "0.0.0.0" or "TELECARE_HTTP_HOST" not in env  # the image sets it (Dockerfile)
    if not cs.is_one_shot(SERVICES[name]):
        assert bus_for(settings, cs.part_of(SERVICES[name])) == "kafka"


def test_secrets_are_never_inline() -> None:
    for name, service in SERVICES.items():
        env = service.get("environment") or {}
        inline = sorted(k for k in env if k in SECRET_SETTINGS or re.search(r"PASSWORD|SECRET|TOKEN", k))
        assert not inline, f"{name}: secrets belong in deploy/secrets/*.env, not in the compose file: {inline}"
        for value in map(str, env.values()):
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name}: a URL with a password: {value}"


def test_secrets_come_from_the_generated_files(secrets_dir: Path) -> None:
    for name, service in SERVICES.items():
        for path in cs.env_files(service):
            assert path.startswith(cs.SECRETS + "/"), f"{name}: env file outside deploy/secrets: {path}"
            assert cs.secrets_path(path, secrets_dir).is_file(), f"make-secrets.sh does not write {path}"
    tele = cs.read_env_file(secrets_dir / "telecare.env")
    pg = cs.read_env_file(secrets_dir / "postgres.env")
    assert f":{pg['POSTGRES_PASSWORD']}@timescaledb:5432/telecare" in tele["TELECARE_DATABASE_URL"]
    assert len(tele["TELECARE_MQTT_PASSWORD"]) >= 32
    assert (secrets_dir / "postgres.env").stat().st_mode & 0o077 == 0  # passwords readable by the owner only


def test_the_ingest_accounts_are_every_ingest_process() -> None:
    ids = sorted(s["environment"]["TELECARE_MQTT_CLIENT_ID"] for s in APPS.values() if cs.part_of(s) == "ingest")
    assert len(set(ids)) == len(ids) == 2  # each ingest process its own persistent sessions
    for name, service in SERVICES.items():
        if cs.is_app(service):
            listed = service["environment"]["TELECARE_MQTT_INGEST_CLIENT_IDS"].split(",")
            assert sorted(listed) == ids, name  # mqtt-auth writes an account for each


def test_long_running_services_restart_and_report_health() -> None:
    for name, service in SERVICES.items():
        if cs.is_one_shot(service):
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name, service in APPS.items():
        test = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{cs.PART_PORT}/healthz" in test, name


def test_dependencies_wait_for_health_or_completion() -> None:
    order = cs.start_order(SPEC)  # raises on a cycle
    for name, service in SERVICES.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            target = SERVICES[dep]
            expected = "service_completed_successfully" if cs.is_one_shot(target) else "service_healthy"
            assert cond == {"condition": expected}, f"{name} -> {dep}: {cond}"
            assert order.index(dep) < order.index(name)
    # A new consumer group starts where it registers: every consumer is up before ingest publishes.
    ingest_deps = set(SERVICES["ingest-1"]["depends_on"])
    assert {"store", "rules-1", "rules-2", "mosquitto", "kafka", "migrate"} <= ingest_deps
    assert "alerts" in SERVICES["rules-1"]["depends_on"]


def test_only_the_edge_is_published() -> None:
    published = {n: s["ports"] for n, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"mosquitto", "proxy", "prometheus", "grafana"}
    assert published["mosquitto"] == ["8883:8883"]  # gateways over TLS; 1883 is for ingest only
    assert published["prometheus"][0].startswith("127.0.0.1:")


def test_the_proxy_is_the_only_trusted_forwarder() -> None:
    proxy_ip = SERVICES["proxy"]["networks"]["front"]["ipv4_address"]
    webs = [n for n, s in APPS.items() if cs.part_of(s) == "web"]
    for name in webs:
        assert SERVICES[name]["environment"]["FORWARDED_ALLOW_IPS"] == proxy_ip
        assert "front" in SERVICES[name]["networks"]
    nginx = (cs.ROOT / "deploy/nginx/nginx.conf").read_text()
    upstream = sorted(re.findall(r"^\s*server ([a-z0-9-]+):(\d+)", nginx, re.M))
    # The web processes, and outreach for Twilio's callbacks (it reads no client address: Twilio signs them).
    assert upstream == sorted((name, str(cs.PART_PORT)) for name in [*webs, "outreach"])
    assert "front" in SERVICES["outreach"]["networks"] and "outreach" in SERVICES["proxy"]["depends_on"]


def test_kafka_is_the_pinned_broker_with_the_embedded_brokers_settings() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = {k.removeprefix("KAFKA_").lower().replace("_", "."): v for k, v in kafka["environment"].items()
           if k.startswith("KAFKA_") and k != "KAFKA_HEAP_OPTS"}
    embedded = dict(line.split("=", 1) for line in SERVER_PROPERTIES.splitlines() if line)
    for key in ("process.roles", "auto.create.topics.enable", "controller.listener.names",
                "inter.broker.listener.name", "listener.security.protocol.map", "transaction.state.log.min.isr",
                "group.initial.rebalance.delay.ms"):
        assert env[key] == embedded[key], key
    assert int(env["num.partitions"]) == int(APPS["store"]["environment"]["TELECARE_KAFKA_PARTITIONS"])
    cluster = kafka["environment"]["CLUSTER_ID"]  # StorageTool wants a url-safe base64 uuid (16 bytes, no padding)
    assert base64.urlsafe_b64encode(base64.urlsafe_b64decode(cluster + "==")).decode().rstrip("=") == cluster
    assert len(base64.urlsafe_b64decode(cluster + "==")) == 16


def test_the_database_is_timescaledb_with_its_library_preloaded() -> None:
    db = SERVICES["timescaledb"]
    assert re.fullmatch(r"timescale/timescaledb:2\.\d+\.\d+-pg16", db["image"])
    assert "shared_preload_libraries=timescaledb" in db["command"]


def test_mosquitto_runs_the_saving_script_with_the_repositorys_config() -> None:
    mqtt = SERVICES["mosquitto"]
    assert mqtt["command"] == ["sh", "/mosquitto/run.sh"]
    mounts = dict(cs.bind_mounts(mqtt))
    assert mounts["deploy/mosquitto/mosquitto.conf"] == "/mosquitto/config/mosquitto.conf"
    assert mounts["deploy/mosquitto/run.sh"] == "/mosquitto/run.sh"
    # The password file and ACL land where mosquitto.conf reads them: the config volume mqtt-auth writes.
    conf = (cs.ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "password_file /mosquitto/config/passwd" in conf and "acl_file /mosquitto/config/acl" in conf
    auth = SERVICES["mqtt-auth"]
    assert "mosquitto-config:/auth" in auth["volumes"] and "mosquitto-config:/mosquitto/config" in mqtt["volumes"]
    assert cs.telecare_argvs(auth) == [["devices", "mqtt-acl", "-o", "/auth"]]
    for cert in ("ca.crt", "server.crt", "server.key"):
        assert f"/mosquitto/config/certs/{cert}" in conf and f"/certs/{cert}" in auth["command"][0]


def test_the_app_image_installs_the_package_without_its_tests() -> None:
    dockerfile = (cs.ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install /src" in dockerfile and "USER telecare" in dockerfile
    assert 'ENTRYPOINT ["telecare"]' in dockerfile
    ignored = {line.strip() for line in (cs.ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    project = tomllib.loads((cs.ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert not [p for p in packages if p in ignored], "a package the image needs is kept out of its build"
    assert project["project"]["readme"] not in ignored and "pyproject.toml" not in ignored
    assert "tests" in ignored and ".telecare" in ignored and "deploy" in ignored  # no secrets in the image


def test_the_file_follows_the_compose_specification() -> None:
    """The Compose Specification's own JSON Schema (tests/data/compose/README.md), in place of `docker compose config`."""
    import json

    import jsonschema
    import yaml

    schema = json.loads((cs.ROOT / "tests/data/compose/compose-spec.json").read_text())
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(cs.COMPOSE.read_text()))]
    assert not errors, "\n".join(errors[:20])
