"""The embedded broker and the production config agree on every durability setting, and they are sane."""
from __future__ import annotations

from pathlib import Path

from demo.broker import SAVE_EVERY_S, mosquitto_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
DURABILITY = ("persistence", "autosave_interval", "autosave_on_changes", "max_queued_messages", "max_queued_bytes",
              "max_inflight_messages", "max_packet_size", "persistent_client_expiration")


def _settings(text: str) -> dict[str, str]:
    pairs = (line.split(None, 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return {p[0]: p[1].strip() if len(p) > 1 else "" for p in pairs}


def test_production_and_embedded_brokers_share_the_durability_settings() -> None:
    embedded = _settings(mosquitto_conf(1883, Path("/d"), (Path("/d/passwd"), Path("/d/acl"))))
    production = _settings((DEPLOY / "mosquitto.conf").read_text())
    assert {k: embedded.get(k) for k in DURABILITY} == {k: production.get(k) for k in DURABILITY}


def test_the_settings_keep_qos1_messages_and_save_on_a_timer() -> None:
    conf = _settings(mosquitto_conf(1883, Path("/d"), (Path("/d/passwd"), Path("/d/acl"))))
    assert conf["persistence"] == "true"
    # on_changes would rewrite the whole store after every queued message: O(n^2) under a backlog.
    assert conf["autosave_on_changes"] == "false" and conf["autosave_interval"] == "1"
    assert int(conf["max_queued_messages"]) >= 1_000_000 and conf["max_queued_bytes"] == "0"
    assert int(conf["max_packet_size"]) > 64 * 1024  # an oversized payload must reach ingest's dead letters
    assert SAVE_EVERY_S <= 0.5  # + one save's duration stays within 1 s


def test_the_production_start_script_saves_every_half_second() -> None:
    script = (DEPLOY / "run.sh").read_text()
    assert "kill -USR1" in script and "MOSQUITTO_SAVE_EVERY_S:-0.5" in script


def test_production_and_embedded_brokers_refuse_anonymous_clients_and_load_the_acl() -> None:
    embedded = _settings(mosquitto_conf(1883, Path("/d"), (Path("/d/passwd"), Path("/d/acl"))))
    production = _settings((DEPLOY / "mosquitto.conf").read_text())
    for conf in (embedded, production):
        assert conf["allow_anonymous"] == "false" and "password_file" in conf and "acl_file" in conf
    assert _settings(mosquitto_conf(1883, Path("/d")))["allow_anonymous"] == "true"  # the suite's shared broker


def _listener_blocks(text: str) -> list[list[str]]:
    """The config's lines split at each `listener` line (block 0: the lines above the first listener)."""
    blocks: list[list[str]] = [[]]
    for line in (x.strip() for x in text.splitlines()):
        if line.startswith("listener "):
            blocks.append([])
        if line and not line.startswith("#"):
            blocks[-1].append(line)
    return blocks


def test_every_listener_makes_client_ids_the_usernames() -> None:
    """use_username_as_clientid is per listener: on each one, and never above the first (there, mosquitto 2.0.11
    ignores it for the listeners defined and opens a default listener on 0.0.0.0:1883)."""
    embedded = mosquitto_conf(1883, Path("/d"), (Path("/d/passwd"), Path("/d/acl")))
    production = (DEPLOY / "mosquitto.conf").read_text()
    for conf in (embedded, production):
        above, *listeners = _listener_blocks(conf)
        assert listeners and not [x for x in above if x.startswith("use_username_as_clientid")]
        for block in listeners:
            assert "use_username_as_clientid true" in block, block[0]
    assert "use_username_as_clientid" not in mosquitto_conf(1883, Path("/d"))  # the suite's anonymous broker
