"""`telecare gdpr export|erase` and `telecare audit report` as subprocesses on an embedded PostgreSQL data dir."""
from __future__ import annotations

import getpass
import json
import os
import stat
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "docs" / "examples" / "fleet.yaml"
RID, NAME, KEY_SAFE = "r-9001", "Montserrat Puig Soler", "0472"


def telecare(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    clean.update(TELECARE_LOG_LEVEL="WARNING", **env)
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], capture_output=True, text=True,
                          env=clean, timeout=180)


@pytest.fixture
def data_dir(tmp_root: Path) -> list[str]:
    # Outside pytest's tmp_path: another pytest run may reset /tmp/pytest-of-root to 0700, locking pgserver out.
    return ["--data-dir", str(tmp_root / f"gdpr-{uuid.uuid4().hex[:8]}")]


def test_gdpr_and_audit_never_create_a_database(data_dir, tmp_root):
    for command in (["gdpr", "export", RID, "-o", str(tmp_root / "x.zip")], ["gdpr", "erase", RID, "--dry-run"],
                    ["audit", "report", "--since", "72h"]):
        proc = telecare(*command, *data_dir)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr[-2000:])
        assert "no database in" in proc.stderr and "Traceback" not in proc.stderr
    assert not (Path(data_dir[1]) / "pg" / "PG_VERSION").exists()


def test_export_erase_and_breach_report_through_the_cli(data_dir, tmp_root):
    upgraded = telecare("db", "upgrade", *data_dir)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    assert "0013_gdpr" in upgraded.stdout and "hypertable: off" in upgraded.stdout
    assert "retention policy: off (fallback: the maintenance job drops whole monthly partitions)" in upgraded.stdout
    imported = telecare("devices", "import", str(FLEET), *data_dir)
    assert imported.returncode == 0, imported.stderr[-2000:]

    out = tmp_root / f"export-{uuid.uuid4().hex[:6]}.zip"
    exported = telecare("gdpr", "export", RID, "-o", str(out), *data_dir)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("export.json"))["sections"]["profile"][0]["name"] == NAME
        assert json.loads(zf.read("fhir_bundle.json"))["type"] == "collection"
    assert NAME not in exported.stdout + exported.stderr  # personal data only in the file

    missing = telecare("gdpr", "export", "r-nobody", "-o", str(tmp_root / "n.zip"), *data_dir)
    assert missing.returncode == 2 and "resident r-nobody is not registered" in missing.stderr

    dry = telecare("gdpr", "erase", RID, "--dry-run", *data_dir)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert dry.stdout.startswith("DRY RUN: nothing changed.") and "would pseudonymise" in dry.stdout
    assert "would delete" in dry.stdout and "devices" in dry.stdout
    erased = telecare("gdpr", "erase", RID, *data_dir)
    assert erased.returncode == 0, erased.stderr[-2000:]
    assert "pseudonymised" in erased.stdout and "DRY RUN" not in erased.stdout
    out2 = tmp_root / f"after-{uuid.uuid4().hex[:6]}.zip"
    assert telecare("gdpr", "export", RID, "-o", str(out2), *data_dir).returncode == 0
    with zipfile.ZipFile(out2) as zf:
        text = zf.read("export.json").decode()
    assert NAME not in text and KEY_SAFE not in text and "Erased resident" in text

    me = f"cli:{getpass.getuser()}"
    report = telecare("audit", "report", "--since", "1h", *data_dir)
    assert report.returncode == 0, report.stderr[-2000:]
    assert f"{me}: 1 resident(s), 2 read(s)" in report.stdout and RID in report.stdout  # the two exports
    as_csv = telecare("audit", "report", "--since", "1h", "--format", "csv", *data_dir)
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "actor,resident_id,reads,actions,first_at,last_at"
    assert lines[1].startswith(f"{me},{RID},2,resident.data.export,")
    bad = telecare("audit", "report", "--since", "last tuesday", *data_dir)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
