"""A real Prometheus (Debian's package) scraping two real server processes
every second: its query API must give each process's number of open
sockets, after they open and again after some close.

What is tried: 3 sockets on one process and 5 on the other, over three
routes; then 2 and 4 of them close. Prometheus runs with a configuration of
this test's own (two static targets, scrape_interval 1s), its database in a
temporary folder and its API on a free loopback port.
"""

from contextlib import ExitStack

from websockets.sync.client import connect

from tests.ops.prometheus_api import wait_for_query
from tests.support.ports import free_port

QUERY = "sum by (instance) (realtime_websocket_connections)"


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
        expected = {first_target: 2.0, second_target: 4.0}
        assert wait_for_query(api, closed, expected) == expected
