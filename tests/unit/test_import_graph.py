"""The house's walls, checked from the import graph: who may import whom, and which module owns each vendor."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("ingest", "rules", "alerts", "outreach", "dashboards", "devices", "identity", "gdpr", "insights",
              "carerecord")
PACKAGES = ("telecare", "entrypoints", "demo", "bench", *COMPONENTS)
# Vendor library -> the only modules allowed to import it.
VENDOR_OWNERS = {
    "paho": {"telecare/mqtt.py"},
    "psycopg": {"telecare/store/db.py"},
    "psycopg_pool": {"telecare/store/db.py"},
    "apscheduler": {"outreach/scheduler.py"},
    "twilio": {"outreach/twilio_telephony.py"},
    "argon2": {"identity/passwords.py"},
    "aiokafka": {"telecare/kafkabus.py", "telecare/kafkafeed.py"},
    "babel": {"telecare/i18n.py"},
    "faust": {"rules/faust_host.py"},
}
WEB_LIBRARIES = ("fastapi", "starlette", "uvicorn")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


GRAPH = {str(p.relative_to(ROOT)): _imports(p) for pkg in PACKAGES for p in _modules(pkg)}


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_graph_is_not_empty():
    assert len(GRAPH) > 60
    assert any("telecare.bus" in names for names in GRAPH.values())


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("telecare/")))
def test_kernel_imports_no_component(module):
    bad = {n for n in GRAPH[module] if _top(n) in (*COMPONENTS, "entrypoints", "demo", "bench")}
    assert not bad, f"{module} (kernel) imports {sorted(bad)}"


@pytest.mark.parametrize("component", COMPONENTS)
def test_components_do_not_import_the_composition_root_or_the_demo(component):
    bad = {(m, n) for m, names in GRAPH.items() if m.startswith(component + "/")
           for n in names if _top(n) in ("entrypoints", "demo", "bench")}
    assert not bad


def test_nothing_but_the_alerts_capability_imports_the_alert_store():
    bad = {m for m, names in GRAPH.items() if "alerts.store" in names
           and not m.startswith(("alerts/", "entrypoints/", "bench/"))}
    assert not bad, f"import alerts.store only in the composition root: {sorted(bad)}"


@pytest.mark.parametrize("vendor", sorted(VENDOR_OWNERS))
def test_each_vendor_library_has_one_owner(vendor):
    users = {m for m, names in GRAPH.items() if any(_top(n) == vendor for n in names)}
    assert users <= VENDOR_OWNERS[vendor], f"{vendor} imported by {sorted(users - VENDOR_OWNERS[vendor])}"


def test_web_frameworks_only_in_dashboards():
    users = {m for m, names in GRAPH.items() if any(_top(n) in WEB_LIBRARIES for n in names)}
    outside = {m for m in users if not m.startswith("dashboards/")
}
    assert not outside, f"FastAPI/starlette/uvicorn outside dashboards/: {sorted(outside)}"
