"""A real Prometheus's HTTP API, as the metrics tests use it."""

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest


def prometheus_binary():
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("this test needs Prometheus: `make test-tools` installs it (scripts/ensure-prometheus.sh)")
    return binary


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


def query_answer(url, promql):
    """Prometheus's whole answer to an instant query (status, data or error)."""
    try:
        with urllib.request.urlopen(
            f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}), timeout=5
        ) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 400 for a query it cannot parse, with the reason
        return json.load(error)


def query(url, promql):
    """{instance: value} of an instant query through Prometheus's HTTP API."""
    answer = query_answer(url, promql)
    assert answer["status"] == "success", answer
    return {item["metric"].get("instance", ""): float(item["value"][1]) for item in answer["data"]["result"]}


def wait_for_query(url, promql, expected, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        got = query(url, promql)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.5)
