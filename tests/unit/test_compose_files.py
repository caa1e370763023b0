"""Every file docker-compose.yml mounts exists and parses; Prometheus scrapes every part; Grafana asks only for
metrics the code exports. promtool and nginx check their own files where installed (required with CI=true)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from telecare.metrics import REGISTRY
from tests import compose_spec as cs
from tests.conftest import unavailable

SPEC = cs.load()
SERVICES = cs.services(SPEC)
APPS = cs.app_services(SPEC)
DASHBOARDS = sorted((cs.ROOT / "deploy/grafana/dashboards").glob("*.json"))
# Series Prometheus makes itself for every target (not exported by our code).
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "max", "min", "avg", "histogram_quantile", "without", "on",
                "ignoring", "group_left", "group_right", "count", "le", "offset", "bool", "and", "or", "unless"}


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cs.make_secrets(tmp_path_factory.mktemp("secrets") / "secrets")


def _mounts() -> list[tuple[str, str, str]]:
    return [(name, host, target) for name, s in SERVICES.items() for host, target in cs.bind_mounts(s)]


@pytest.mark.parametrize(("service", "host", "target"), _mounts())
def test_every_mounted_file_exists_and_parses(service: str, host: str, target: str, secrets_dir: Path) -> None:
    path = cs.secrets_path(host, secrets_dir)  # deploy/secrets/... is what make-secrets.sh wrote
    assert path.exists(), f"{service} mounts {host}, which is not in the repository (nor made by make-secrets.sh)"
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    assert files, f"{service}: {host} is empty"
    for file in files:
        text = file.read_text()
        if file.suffix in (".yml", ".yaml"):
            assert isinstance(yaml.safe_load(text), dict), file
        elif file.suffix == ".json":
            assert isinstance(json.loads(text), dict), file
        elif file.suffix == ".sh":
            assert subprocess.run(["sh", "-n", str(file)]).returncode == 0, file
        elif file.suffix in (".crt", ".key"):
            assert text.startswith("-----BEGIN "), file
        elif file.suffix == ".conf":
            assert text.strip(), file


def _exported() -> set[str]:
    """Every series name telecare/metrics.py's registry exports (counters' _total, histograms' _bucket/_sum/_count)."""
    return set(REGISTRY._names_to_collectors)


def _queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            out += [(f"{path.name}: {panel['title']}", t["expr"]) for t in panel.get("targets", [])]
    return out


def _metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    without_groupings = re.sub(r"\b(by|without)\s*\([^)]*\)", "", without_ranges)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", without_groupings)) - PROMQL_WORDS
    return {n for n in names if not re.fullmatch(r"\d+(\.\d+)?", n)}


def test_the_dashboards_cover_what_the_issue_asks() -> None:
    assert DASHBOARDS
    text = " ".join(expr for _, expr in _queries())
    for metric in ("telecare_ingest_messages_total", "telecare_ingest_rejections_total",
                   "telecare_alert_raise_latency_seconds_bucket", "telecare_active_alerts",
                   "telecare_alert_answer_seconds_bucket", "telecare_outreach_outcomes_total",
                   "telecare_quality_campaign_reach_ratio", "telecare_bus_consumer_lag"):
        assert metric in text, metric


@pytest.mark.parametrize(("where", "expr"), _queries())
def test_every_dashboard_query_names_only_exported_metrics(where: str, expr: str) -> None:
    names = _metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    unknown = sorted(names - _exported() - PROMETHEUS_OWN)
    assert not unknown, f"{where}: {unknown} are not exported by telecare/metrics.py"


def test_bucket_bounds_in_queries_are_the_histograms_bounds() -> None:
    """prometheus_client writes le="60.0": a query for le="60" would silently find nothing."""
    bounds: dict[str, set[str]] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                bounds.setdefault(sample.name, set()).add(sample.labels["le"])
    asked = [(m, le) for _, expr in _queries() for m, le in re.findall(r'(\w+_bucket)\{[^}]*le="([^"]+)"', expr)]
    assert asked
    for metric, le in asked:
        # A labelled histogram shows no samples until observed: read its declared buckets instead.
        known = bounds.get(metric) or {_go(b) for b in REGISTRY._names_to_collectors[metric]._upper_bounds}
        assert le in known, f"{metric} has no bucket le={le!r} ({sorted(known)})"


def _go(bound: float) -> str:
    from prometheus_client.utils import floatToGoString

    return floatToGoString(bound)


def test_prometheus_scrapes_every_telecare_process_and_nothing_else() -> None:
    config = yaml.safe_load((cs.ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t: job["job_name"] for job in config["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    expected = {f"{name}:{cs.PART_PORT}": cs.part_of(s) for name, s in APPS.items()}
    ours = {t: j for t, j in targets.items() if j != "prometheus"}
    assert ours == expected  # every process that serves /metrics, under its part's job name
    mounts = dict(cs.bind_mounts(SERVICES["prometheus"]))
    assert mounts["deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]


def test_grafana_provisions_the_datasource_and_the_dashboards_folder() -> None:
    root = cs.ROOT / "deploy/grafana"
    source = yaml.safe_load((root / "provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((root / "provisioning/dashboards/telecare.yml").read_text())["providers"][0]
    mounts = dict(cs.bind_mounts(SERVICES["grafana"]))
    assert mounts["deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
        assert uids == {source["uid"]}, path.name
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"


def _tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None)
    if found is None:
        unavailable(f"{name} is not installed (apt-get install {'nginx-light' if name == 'nginx' else 'prometheus'})")
    return found  # type: ignore[return-value]


def test_promtool_accepts_the_config_and_every_dashboard_query(tmp_path: Path) -> None:
    promtool = _tool("promtool")
    check = subprocess.run([promtool, "check", "config", "--syntax-only",
                            str(cs.ROOT / "deploy/prometheus/prometheus.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # Each query as a recording rule: promtool parses its PromQL (a typo fails here, not on a live screen).
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"dashboard:query{i}", "expr": expr}
                                                           for i, (_, expr) in enumerate(_queries())]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    check = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_nginx_accepts_the_proxy_config(tmp_path: Path) -> None:
    nginx = _tool("nginx")
    conf = (cs.ROOT / "deploy/nginx/nginx.conf").read_text()
    # Only what needs the compose network: the upstream names resolve there, not here; the pid into tmp.
    for name in re.findall(r"^\s*server ([a-z0-9-]+):\d+", conf, re.M):
        conf = conf.replace(f"server {name}:", "server 127.0.0.1:")
    conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    (tmp_path / "nginx.conf").write_text(conf)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                            "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_make_secrets_issues_a_server_certificate_the_ca_verifies(secrets_dir: Path) -> None:
    certs = secrets_dir / "certs"
    check = subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca.crt"), str(certs / "server.crt")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (certs / "server.key").stat().st_mode & 0o077 == 0
    before = (secrets_dir / "telecare.env").read_text()
    cs.make_secrets(secrets_dir)  # a second run keeps every existing secret
    assert (secrets_dir / "telecare.env").read_text() == before


# Dashboard metrics declared in telecare/metrics.py that no code sets yet, and where they must be set. A panel
# over them shows "No data" (never a false value) until then; the second test below keeps this list true.
NOT_SET_YET: dict[str, str] = {}


def _declared() -> dict[str, str]:
    """Metric name -> the constant telecare/metrics.py declares it as."""
    import ast

    tree = ast.parse((cs.ROOT / "telecare/metrics.py").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
            first = node.value.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                out[first.value] = node.targets[0].id  # type: ignore[attr-defined]
    return out


def _unset_dashboard_metrics() -> set[str]:
    declared = _declared()
    sources = [p.read_text() for p in cs.ROOT.rglob("*.py")
               if "tests" not in p.relative_to(cs.ROOT).parts and p != cs.ROOT / "telecare/metrics.py"]
    queried = set().union(*(_metric_names(expr) for _, expr in _queries())) - PROMETHEUS_OWN
    unset = set()
    for metric in queried:
        base = next(m for m in declared if metric == m or metric.startswith(m + "_"))
        if not any(re.search(rf"\b{declared[base]}\b", text) for text in sources):
            unset.add(base)
    return unset


def test_every_dashboard_metric_is_set_by_the_code_or_listed_as_pending() -> None:
    unset = _unset_dashboard_metrics()
    assert unset <= set(NOT_SET_YET), f"dashboards ask for metrics nothing sets: {sorted(unset - set(NOT_SET_YET))}"


def test_the_pending_list_is_still_true() -> None:
    """Once a metric is wired, remove it from NOT_SET_YET (the list must never hide a regression)."""
    assert set(NOT_SET_YET) <= _unset_dashboard_metrics()
