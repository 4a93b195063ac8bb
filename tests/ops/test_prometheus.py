"""A real Prometheus (Debian's package) scraping two real server processes
every second: its query API must give each process's number of open
sockets, after they open and again after some close.

What is tried: 3 sockets on one process and 5 on the other, over three
routes; then 2 and 4 of them close. Prometheus runs with a configuration of
this test's own (two static targets, scrape_interval 1s), its database in a
temporary folder and its API on a free loopback port.
"""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.conftest import free_port, wait_for_port

QUERY = "sum by (instance) (realtime_websocket_connections)"


def prometheus_binary():
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("this test needs Prometheus: `make test-tools` installs it (scripts/ensure-prometheus.sh)")
    return binary


@pytest.fixture
def prometheus(tmp_path):
    """Start a Prometheus scraping the given targets: `prometheus(targets)`
    returns the base URL of its HTTP API."""
    started = []

    def start(targets):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": "realtime", "static_configs": [{"targets": targets}]}],
        }))
        log = open(tmp_path / "prometheus.log", "wb")
        process = subprocess.Popen(
            [prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
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


def ready(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def query(url, promql):
    """{instance: value} of an instant query through Prometheus's HTTP API."""
    with urllib.request.urlopen(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}), timeout=5) as r:
        answer = json.load(r)
    assert answer["status"] == "success", answer
    return {item["metric"].get("instance", ""): float(item["value"][1]) for item in answer["data"]["result"]}


def wait_for_query(url, promql, expected, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        got = query(url, promql)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_prometheus_sees_each_process_open_sockets_as_they_open_and_close(daphne, prometheus):
    first_metrics, second_metrics = free_port(), free_port()
    first = daphne(REALTIME_METRICS_PORT=first_metrics)
    second = daphne(REALTIME_METRICS_PORT=second_metrics)
    first_target, second_target = f"127.0.0.1:{first_metrics}", f"127.0.0.1:{second_metrics}"
    api = prometheus([first_target, second_target])

    assert wait_for_query(api, "up", {first_target: 1.0, second_target: 1.0}) == {first_target: 1.0, second_target: 1.0}

    with ExitStack() as stack:
        def open_on(server, path):
            return stack.enter_context(connect(f"{server.ws_url}{path}", ping_interval=None))

        on_first = [open_on(first, "/ws/echo"), open_on(first, "/ws/time"), open_on(first, "/ws/mouse")]
        on_second = [open_on(second, "/ws/echo") for _ in range(3)] + [open_on(second, "/ws/time") for _ in range(2)]
        for socket in on_first[:1] + on_second[:3]:
            socket.send("hello")
            assert socket.recv(timeout=5) == "hello"

        expected = {first_target: 3.0, second_target: 5.0}
        assert wait_for_query(api, QUERY, expected) == expected
        # The route label adds up to the same: 1 + 3 echo sockets in all.
        assert wait_for_query(api, 'sum(realtime_websocket_connections{route="/ws/echo"})', {"": 4.0}) == {"": 4.0}

        for socket in on_first[:2] + on_second[:4]:
            socket.close()
        expected = {first_target: 1.0, second_target: 1.0}
        assert wait_for_query(api, QUERY, expected) == expected
        closed = 'sum by (instance) (realtime_websocket_closes_total{code="1000", initiator="client"})'
        assert wait_for_query(api, closed, {first_target: 2.0, second_target: 4.0}) == {first_target: 2.0, second_target: 4.0}
