"""Ingest's MQTT usernames (its session ids) live under a prefix no gateway may be registered with."""
from __future__ import annotations

from pathlib import Path

import pytest

from devices.credentials import RESERVED_PREFIX, StoredCredentials, check_username
from devices.mqtt_acl import IngestAccounts, write_broker_auth
from ingest.service import session_ids
from telecare.errors import ConfigError, InvalidInput
from telecare.settings import Settings, load_settings


@pytest.mark.parametrize("gateway_id", ["telecare-ingest", "telecare-ingest-1", "telecare-ingest-1-alarms",
                                        "Telecare-Ingest-9", "telecare-ingestor"])
def test_a_gateway_cannot_take_a_name_of_ingests(gateway_id: str) -> None:
    with pytest.raises(InvalidInput, match="reserved for ingest"):
        check_username(gateway_id)


def test_ordinary_gateway_ids_are_fine() -> None:
    assert check_username("gw-0001") == "gw-0001" and check_username("telecare-gw-1") == "telecare-gw-1"


def test_ingests_client_ids_must_be_in_the_reserved_names() -> None:
    assert Settings.model_fields["mqtt_client_id"].default.startswith(RESERVED_PREFIX)
    for bad in ("ingest-1", "gw-1", "telecare-ingest-" + "x" * 42, "telecare-ingest:1"):
        with pytest.raises(ConfigError, match="TELECARE_MQTT_CLIENT_ID"):
            load_settings(mqtt_client_id=bad)
    longest = load_settings(mqtt_client_id="telecare-ingest" + "x" * 42).mqtt_client_id
    assert all(len(u) <= 64 for u in session_ids(longest))  # mosquitto's username limit, "-alarms" included


def test_the_old_single_username_setting_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match="TELECARE_MQTT_USERNAME: .*no longer used"):
        load_settings(mqtt_username="telecare-ingest")


def test_every_ingest_process_gets_its_two_accounts() -> None:
    ids = load_settings(mqtt_ingest_client_ids=" telecare-ingest-1, telecare-ingest-2 ,").ingest_client_ids
    assert ids == ("telecare-ingest-1", "telecare-ingest-2")
    assert load_settings(mqtt_client_id="telecare-ingest-7").ingest_client_ids == ("telecare-ingest-7",)


def test_the_export_leaves_out_a_gateway_registered_inside_the_reserved_names(tmp_path: Path) -> None:
    """A row from before the reservation must not reach the password file (it could take ingest's session)."""
    old = StoredCredentials("telecare-ingest-1", "telecare-ingest-1", "$7$x", None)
    ok = StoredCredentials("gw-1", "gw-1", "$7$y", None)
    files = write_broker_auth(tmp_path, IngestAccounts(session_ids("telecare-ingest-1"), "pw"), [old, ok])
    users = [line.split(":")[0] for line in files.password_file.read_text().splitlines()]
    assert users == ["telecare-ingest-1-alarms", "telecare-ingest-1", "gw-1"] and files.gateways == 1
    assert files.skipped and "reserved" in files.skipped[0]
    with pytest.raises(ConfigError, match="must start with"):
        write_broker_auth(tmp_path, IngestAccounts(("ingest",), "pw"), [ok])
