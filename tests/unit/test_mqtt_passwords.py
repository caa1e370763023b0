"""Our `$7$` hashes are mosquitto's: checked against mosquitto_passwd's own output, both ways."""
from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

from devices.credentials import mosquitto_hash, verify_mosquitto_hash
from devices.mqtt_acl import render_acl, render_password_file
from devices.credentials import StoredCredentials
from tests.conftest import unavailable


def test_a_hash_from_mosquitto_passwd_verifies_and_ours_has_its_shape(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        unavailable("mosquitto_passwd is not installed")
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "gw-1", "a generated password"], check=True)
    theirs = passwd.read_text().strip().split(":", 1)[1]
    assert verify_mosquitto_hash(theirs, "a generated password")
    assert not verify_mosquitto_hash(theirs, "another password")
    _, kind, iterations, salt, _ = theirs.split("$")
    ours = mosquitto_hash("a generated password", salt=base64.b64decode(salt), iterations=int(iterations))
    assert ours == theirs  # same salt and iterations: byte for byte what mosquitto_passwd wrote
    fresh = mosquitto_hash("x").split("$")
    assert fresh[1:3] == [kind, iterations] and len(base64.b64decode(fresh[3])) == 12


def test_the_acl_gives_each_gateway_its_own_subtree_and_ingest_read_only() -> None:
    gws = [StoredCredentials("gw-1", "gw-1", "$7$h1", None), StoredCredentials("gw-2", "gw-2", "$7$h2", None)]
    acl = render_acl(["telecare-ingest-1", "telecare-ingest-1-alarms"], gws)
    sections = {block.split("\n", 1)[0]: block for block in ("\n" + acl).split("\nuser ")[1:]}
    def rules(user: str) -> list[str]:
        return [x for x in sections[user].splitlines()[1:] if x.strip() and not x.startswith("#")]

    for session in ("telecare-ingest-1", "telecare-ingest-1-alarms"):
        assert rules(session) == ["topic read telecare/v1/#"]
    for gw in ("gw-1", "gw-2"):
        assert rules(gw) == [f"topic write telecare/v1/{gw}/#"]
    assert not [x for x in acl.split("\nuser ", 1)[0].splitlines() if x.startswith(("topic", "pattern"))]
    assert render_password_file(["telecare-ingest-1"], "$7$hi", gws) == "telecare-ingest-1:$7$hi\ngw-1:$7$h1\ngw-2:$7$h2\n"
