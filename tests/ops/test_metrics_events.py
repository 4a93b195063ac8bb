"""The event counts of /metrics, each provoked for real on real servers and
read back the way Prometheus reads them: refused handshakes by reason,
throttled messages, the tick publisher (which process holds the lease, how
late its ticks leave), channel-layer and Redis errors, chat changes, and
the trace writer's queue and drops."""

import asyncio
import time
import urllib.request
from contextlib import ExitStack

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.ops.scrape import scrape, value, wait_for
from tests.support.chat import ChatClient, http_signup, unique
from tests.support.ports import free_port
from tests.support.raw_ws import open_socket


def refused_status(url, **options):
    with pytest.raises(InvalidStatus) as refused:
        with connect(url, open_timeout=5, **options):
            pass
    return refused.value.response.status_code


def test_refused_handshakes_are_counted_by_route_and_reason(daphne):
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port)
    # Tried: a foreign page's Origin, a path no socket serves, and the staff
    # trace socket without a staff session. Each is refused with 403.
    assert refused_status(f"{server.ws_url}/ws/echo", origin="http://evil.example") == 403
    assert refused_status(f"{server.ws_url}/ws/no-such-socket") == 403
    assert refused_status(f"{server.ws_url}/ws/debug/requests") == 403
    with connect(f"{server.ws_url}/ws/echo"):
        pass
    samples = scrape(metrics_port)
    assert value(samples, "realtime_websocket_refused_total", route="/ws/echo", reason="origin") == 1
    assert value(samples, "realtime_websocket_refused_total", route="(unknown)", reason="unknown_path") == 1
    assert value(samples, "realtime_websocket_refused_total", route="/ws/debug/requests", reason="auth") == 1
    # Only the handshake that was let in counts as accepted.
    assert value(samples, "realtime_websocket_accepted_total", route="/ws/echo") == 1
    assert value(samples, "realtime_websocket_accepted_total", route="/ws/debug/requests") == 0


def test_throttled_messages_are_counted(daphne):
    metrics_port = free_port()
    # 2 messages a second, 1 at once: of 4 sent together, 3 wait.
    server = daphne(REALTIME_METRICS_PORT=metrics_port, REALTIME_RATE_PER_SECOND=2, REALTIME_RATE_BURST=1)
    with connect(f"{server.ws_url}/ws/echo") as ws:
        for i in range(4):
            ws.send(f"flood {i}")
        assert [ws.recv(timeout=10) for _ in range(4)] == [f"flood {i}" for i in range(4)]
    assert value(scrape(metrics_port), "realtime_websocket_throttled_messages_total", route="/ws/echo") == 3


def test_one_process_holds_the_tick_lease_and_its_ticks_leave_on_time(daphne, redis_url, channel_prefix):
    ports = [free_port(), free_port()]
    servers = [
        daphne(REALTIME_METRICS_PORT=port, REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=channel_prefix) for port in ports
    ]
    # Tried: a /ws/time socket on each process (each then joins the election).
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(connect(f"{server.ws_url}/ws/time")).recv(timeout=5)
        time.sleep(2.5)
        samples = [scrape(port) for port in ports]
    holders = [value(s, "realtime_tick_publisher") for s in samples]
    assert sorted(holders) == [0, 1], holders
    publisher = samples[holders.index(1)]
    follower = samples[holders.index(0)]
    assert value(publisher, "realtime_ticks_published_total") >= 2
    assert value(follower, "realtime_ticks_published_total") == 0
    assert 0 <= value(publisher, "realtime_tick_lag_seconds") < 0.5


def test_channel_layer_and_redis_errors_are_counted(daphne, own_redis, channel_prefix):
    metrics_port = free_port()
    server = daphne(
        REALTIME_METRICS_PORT=metrics_port,
        REDIS_URL=f"redis://127.0.0.1:{own_redis.port}/0",
        CHANNEL_LAYER_PREFIX=channel_prefix,
    )
    # Tried: a /ws/time socket and a chat socket while this test's own Redis
    # runs (ticks flow, this process holds the lease), then Redis stops: the
    # lease check, the trace snapshot and the chat presence publish fail.
    with connect(f"{server.ws_url}/ws/time") as ticks, connect(f"{server.ws_url}/ws/chat/{unique('room')}/"):
        ticks.recv(timeout=5)
        ticks.recv(timeout=5)
        before = scrape(metrics_port)
        assert value(before, "realtime_tick_publisher") == 1
        assert value(before, "realtime_redis_errors_total", operation="tick_lease") == 0
        own_redis.stop()
        samples = wait_for(
            metrics_port,
            lambda s: (
                value(s, "realtime_redis_errors_total", operation="tick_lease") >= 2
                and value(s, "realtime_redis_errors_total", operation="trace_publish") >= 1
                and value(s, "realtime_channel_layer_errors_total", operation="publish") >= 1
            ),
            timeout=15,
        )
    assert value(samples, "realtime_redis_errors_total", operation="tick_lease") >= 2
    assert value(samples, "realtime_redis_errors_total", operation="trace_publish") >= 1
    assert value(samples, "realtime_channel_layer_errors_total", operation="publish") >= 1
    assert value(samples, "realtime_tick_publisher") == 0  # no lease without Redis


async def test_chat_posts_edits_and_deletes_are_counted(daphne):
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port)
    session = await asyncio.to_thread(http_signup, server, unique("counted"))
    # Tried: two posts (one retried with the same client_id: stored once), an
    # edit, a delete, and an edit of the deleted message (refused).
    async with ChatClient(server, unique("room"), session) as chat:
        await chat.send(action="post", text="first", client_id="a")
        first = (await chat.expect("ack"))["id"]
        await chat.send(action="post", text="first", client_id="a")
        await chat.expect("ack")
        await chat.send(action="post", text="second")
        await chat.expect("ack")
        await chat.send(action="edit", id=first, text="first, edited")
        await chat.expect("ack")
        await chat.send(action="delete", id=first)
        await chat.expect("ack")
        await chat.send(action="edit", id=first, text="again")
        assert (await chat.expect("error"))["code"] == "message_deleted"
    samples = await asyncio.to_thread(scrape, metrics_port)
    assert value(samples, "realtime_chat_changes_total", action="post", via="socket") == 2
    assert value(samples, "realtime_chat_changes_total", action="edit", via="socket") == 1
    assert value(samples, "realtime_chat_changes_total", action="delete", via="socket") == 1


def test_the_trace_writers_queue_and_drops_are_counted(daphne):
    metrics_port = free_port()
    # A queue of 5 finished traces and no flush during the test (30 s away).
    server = daphne(REALTIME_METRICS_PORT=metrics_port, REALTIME_TRACE_BUFFER=5, REALTIME_TRACE_FLUSH_SECONDS=30)
    # Tried: 12 page requests, one trace each (scrapes are not traced).
    for _ in range(12):
        with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=5) as response:
            assert response.status == 200
    samples = wait_for(metrics_port, lambda s: value(s, "realtime_trace_dropped_total") == 7)
    assert value(samples, "realtime_trace_queue_length") == 5
    assert value(samples, "realtime_trace_dropped_total") == 7


def test_a_raw_client_without_origin_is_not_refused(daphne):
    """The no-Origin rule (programs, not browsers) holds with the counting in
    place: accepted, and no refusal counted."""
    metrics_port = free_port()
    server = daphne(REALTIME_METRICS_PORT=metrics_port)
    open_socket(server.port, "/ws/echo", origin=False).close()
    samples = wait_for(metrics_port, lambda s: value(s, "realtime_websocket_accepted_total", route="/ws/echo") == 1)
    assert value(samples, "realtime_websocket_accepted_total", route="/ws/echo") == 1
    assert value(samples, "realtime_websocket_refused_total", route="/ws/echo", reason="origin") == 0
