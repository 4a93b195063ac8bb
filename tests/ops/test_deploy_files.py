"""The operator's files, checked by the tools that read them:

- deploy/prometheus/prometheus.yml (and its alert rules) by promtool;
- docker-compose.metrics.yml, over docker-compose.yml, by the real compose
  binary: with nothing set it adds Prometheus and Grafana, gives every
  replica the metrics port the Prometheus config scrapes, and publishes
  nothing of it; Grafana's admin password is made by the stack's own
  `secrets` command (given, kept or generated, like the others);
- deploy/grafana/realtime.json: well-formed, and every query in it names
  metrics a real server exposes and is accepted by a real Prometheus.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.deploy.compose_stack import SECRETS_MOUNT, compose, compose_model, run_secrets_service
from tests.ops.prometheus_api import query_answer, wait_for_query
from tests.ops.scrape import exposed_names
from tests.support.paths import ROOT
from tests.support.ports import free_port

PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "realtime.json"
METRICS_FILES = ["-f", "docker-compose.yml", "-f", "docker-compose.metrics.yml"]


def promtool(*args):
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "this test needs promtool: `make test-tools` installs Debian's prometheus (scripts/ensure-prometheus.sh)"
        )
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_prometheus_config_and_its_alert_rules():
    result = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rule files found" in result.stdout  # the alerts were read and checked too
    rules = promtool("check", "rules", str(PROMETHEUS_CONFIG.parent / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_promtool_refuses_a_broken_copy(tmp_path):
    """promtool is a real judge here: the same file with a bad interval fails."""
    broken = tmp_path / "prometheus.yml"
    broken.write_text(PROMETHEUS_CONFIG.read_text().replace("scrape_interval: 15s", "scrape_interval: fast"))
    shutil.copy(PROMETHEUS_CONFIG.parent / "alerts.yml", tmp_path / "alerts.yml")
    assert promtool("check", "config", str(broken)).returncode != 0


def test_the_metrics_compose_file_adds_prometheus_and_grafana_and_publishes_no_metrics_port():
    # Tried: `config -q` with nothing set.
    result = compose(*METRICS_FILES, "config", "-q")
    assert result.returncode == 0, result.stderr
    services = compose_model(*METRICS_FILES)["services"]
    assert {"prometheus", "grafana"} <= set(services)
    web = services["web"]
    # The port every replica serves and the port Prometheus scrapes agree.
    scraped = re.search(r"port: (\d+)", PROMETHEUS_CONFIG.read_text()).group(1)
    assert web["environment"]["REALTIME_METRICS_PORT"] == scraped
    assert web["environment"]["REALTIME_METRICS_BIND"] == "0.0.0.0"  # the container's own address
    assert "ports" not in web  # not published...
    assert scraped not in services["proxy"]["environment"]["NGINX_UPSTREAM"]  # ...nor proxied
    for name in ("prometheus", "grafana"):
        assert all(port["host_ip"] == "127.0.0.1" for port in services[name]["ports"]), services[name]["ports"]
    assert "healthcheck" in services["prometheus"]


def test_grafanas_admin_password_is_generated_and_kept_or_given(tmp_path):
    """Tried: the stack's `secrets` command (as the metrics file configures
    it) with nothing set, again, then with GRAFANA_ADMIN_PASSWORD given; and
    as the base file alone configures it. Grafana reads the file; no service
    carries the value."""
    volume = tmp_path / "secrets-volume"
    services = compose_model(*METRICS_FILES)["services"]
    grafana_file = services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert grafana_file == f"{SECRETS_MOUNT}/grafana_admin_password"
    assert any(v["source"] == "secrets" and v["target"] == SECRETS_MOUNT for v in services["grafana"]["volumes"])
    assert "grafana_admin_password: generated" in run_secrets_service(services, volume)
    generated = (volume / "grafana_admin_password").read_text().strip()
    assert len(generated) >= 32
    if os.geteuid() == 0:  # as the service runs it: only Grafana's user may read it
        assert (volume / "grafana_admin_password").stat().st_uid == 472
    assert "grafana_admin_password: kept" in run_secrets_service(services, volume)
    assert (volume / "grafana_admin_password").read_text().strip() == generated

    given = compose_model(*METRICS_FILES, env={"GRAFANA_ADMIN_PASSWORD": "an admin password the user chose"})
    assert "grafana_admin_password: from GRAFANA_ADMIN_PASSWORD" in run_secrets_service(given["services"], volume)
    assert (volume / "grafana_admin_password").read_text().strip() == "an admin password the user chose"
    # Without the metrics file no Grafana password is made.
    base_volume = tmp_path / "base-secrets-volume"
    assert "grafana" not in run_secrets_service(compose_model()["services"], base_volume)
    assert not (base_volume / "grafana_admin_password").exists()
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "SECRET" in key:
                assert value == "" or str(value).startswith(SECRETS_MOUNT + "/"), (name, key, value)


def dashboard_queries():
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    return dashboard, queries


def as_promql(expr):
    """A dashboard query as Grafana sends it, for the selection "All"."""
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


def test_the_dashboard_is_well_formed():
    dashboard, queries = dashboard_queries()
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert len(queries) >= 20
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    for title, expr in queries:
        used = set(re.findall(r"\$(\w+)", expr)) - {"__rate_interval"}
        assert used <= variables, f"{title}: {expr} uses an undefined variable"


def test_every_dashboard_query_names_exposed_metrics_and_prometheus_accepts_it(daphne, prometheus):
    metrics_port = free_port()
    daphne(REALTIME_METRICS_PORT=metrics_port)
    exposed = exposed_names(metrics_port)
    _, queries = dashboard_queries()
    for title, expr in queries:
        for name in re.findall(r"\b((?:realtime|process)_[a-z_]+)\b", expr):
            assert name in exposed, f"panel {title!r} queries {name}, which /metrics does not expose"

    target = f"127.0.0.1:{metrics_port}"
    api = prometheus([target])
    assert wait_for_query(api, "up", {target: 1.0}) == {target: 1.0}
    for title, expr in queries:
        answer = query_answer(api, as_promql(expr))
        assert answer["status"] == "success", f"panel {title!r}: Prometheus refused {expr}: {answer}"
    # ...and a query over the socket metrics has data once a scrape happened.
    assert query_answer(api, 'process_open_fds{job="realtime"}')["data"]["result"]
