"""Forged X-Forwarded-For against a server run as the image runs it
(--proxy-headers): the header counts only from a trusted proxy
(REALTIME_TRUSTED_PROXIES), so a client that reaches the server directly
cannot name a new address on every request to escape the per-address
limits.

Clients are loopback addresses of their own (127.x.y.z); the trusted proxy
is 127.0.0.1 (the default trusts loopback's 127.0.0.1 and ::1 only)."""

import re
import subprocess

from tests.support.chat import http_signup, loopback_address, unique
from tests.support.paths import PYTHON, ROOT
from tests.support.servers import server_environment
from tests.support.visitors import Visitor

PROXY = "127.0.0.1"


def fail_logins(visitor, count, forwarded_for):
    """`count` failed logins, each with the X-Forwarded-For `forwarded_for()`
    gives; the statuses."""
    statuses = []
    for _ in range(count):
        status, _, _ = visitor.login(unique("nobody"), "wrong-password", **{"X-Forwarded-For": forwarded_for()})
        statuses.append(status)
    return statuses


def test_a_direct_client_is_locked_out_whatever_address_it_forwards(daphne):
    """Tried: 12 failed logins, each with a new X-Forwarded-For, from a
    client that is not the proxy."""
    server = daphne(["--proxy-headers"])
    statuses = fail_logins(Visitor(server), 12, loopback_address)
    assert statuses[:4] == [200] * 4 and statuses[4:] == [429] * 8, statuses


def test_through_the_trusted_proxy_the_forwarded_address_is_the_client(daphne):
    """Tried, through the proxy's address: 12 failed logins from 12
    forwarded addresses (12 people) are not a lockout; five from one
    forwarded address lock out that address only."""
    server = daphne(["--proxy-headers"], REALTIME_TRUSTED_PROXIES=PROXY)
    proxy = Visitor(server, address=PROXY)
    assert fail_logins(proxy, 12, loopback_address) == [200] * 12
    guesser = loopback_address()
    assert fail_logins(proxy, 5, lambda: guesser) == [200] * 4 + [429]
    assert fail_logins(proxy, 1, loopback_address) == [200]


def test_a_direct_client_cannot_forward_its_way_past_the_signup_limit(daphne):
    """Tried: with at most 2 accounts per address, a client that is not the
    proxy signs up three times, each with a new X-Forwarded-For."""
    server = daphne(["--proxy-headers"], ACCOUNTS_SIGNUP_RATE_COUNT=2)
    address = loopback_address()
    results = []
    for _ in range(3):
        try:
            http_signup(server, unique("member"), address=address, headers={"X-Forwarded-For": loopback_address()})
            results.append("signed up")
        except AssertionError as refused:
            results.append(f"refused: {str(refused)[:80]}")
    assert results[:2] == ["signed up"] * 2 and results[2].startswith("refused"), results


def test_a_trusted_proxy_setting_that_is_not_an_address_stops_the_start_with_one_line(server_database):
    env = server_environment(server_database, REALTIME_TRUSTED_PROXIES="10.0.0.1,nginx")
    result = subprocess.run(
        [PYTHON, "-m", "realtime.server", "-b", "127.0.0.1", "-p", "0", "config.asgi:application"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "REALTIME_TRUSTED_PROXIES" in line]
    assert lines and re.search(r"'nginx' is not an IP address", lines[0]), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_the_compose_stack_trusts_the_network_that_holds_nginx_and_web_alone():
    """The compose binary's own model: web believes forwarding headers from
    the `edge` network's subnet, and only nginx (and web) are on it."""
    from tests.deploy.compose_stack import compose_model

    model = compose_model()
    services = model["services"]
    subnet = model["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert services["web"]["environment"]["REALTIME_TRUSTED_PROXIES"] == subnet
    on_edge = sorted(name for name, service in services.items() if "edge" in (service.get("networks") or {}))
    assert on_edge == ["proxy", "web"], on_edge
    assert "--proxy-headers" in services["web"]["command"]
