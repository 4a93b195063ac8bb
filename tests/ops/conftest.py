"""A real Prometheus for the metrics tests (Debian's package; `make
test-tools` installs it)."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.ops.prometheus_api import prometheus_binary, ready
from tests.support.ports import free_port, wait_for_port


@pytest.fixture
def prometheus(tmp_path):
    """Start a Prometheus scraping the given targets: `prometheus(targets)`
    returns the base URL of its HTTP API."""
    started = []

    def start(targets):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            json.dumps(
                {  # JSON is YAML
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [{"job_name": "realtime", "static_configs": [{"targets": targets}]}],
                }
            )
        )
        log = open(tmp_path / "prometheus.log", "wb")
        process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        url = f"http://127.0.0.1:{port}"
        if not wait_for_port(port, timeout=30, process=process) or not ready(url):
            pytest.fail(f"Prometheus did not start: {Path(log.name).read_text(errors='replace')[-2000:]}")
        return url

    yield start
    for process, log in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
