"""Redis (the channel layer) goes away and comes back while Daphne runs.

Tried: a Redis of this test's own (redis-server on a free port; the machine's
shared one on 6379 is never touched) is stopped for a few seconds and then
started again on the same port. Throughout, HTTP pages and /ws/echo (which
need no channel layer) keep working and /healthz says 503 (and the log why);
after Redis returns, the tick on an already-open /ws/time socket resumes on
its own within 5 s, without restarting Daphne.
"""

import json
import time
import urllib.error
import urllib.request

from websockets.sync.client import connect


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def next_tick(ws, timeout):
    return json.loads(ws.recv(timeout=timeout))


def test_http_and_echo_survive_and_time_resumes_after_redis_returns(daphne, own_redis, channel_prefix):
    server = daphne(REDIS_URL=f"redis://127.0.0.1:{own_redis.port}/0", CHANNEL_LAYER_PREFIX=channel_prefix)
    with connect(f"{server.ws_url}/ws/time") as time_socket, connect(f"{server.ws_url}/ws/echo") as echo_socket:
        check_outage(server, own_redis, time_socket, echo_socket)


def check_outage(server, own_redis, time_socket, echo_socket):
    first = next_tick(time_socket, timeout=5)

    own_redis.stop()
    outage_started = time.monotonic()
    # During the outage (a few seconds): pages, echo and a new echo socket work.
    while time.monotonic() - outage_started < 4:
        status, _ = http_status(f"{server.http_url}/")
        assert status == 200
        echo_socket.send("during the outage")
        assert echo_socket.recv(timeout=3) == "during the outage"
        time.sleep(0.5)
    with connect(f"{server.ws_url}/ws/echo") as fresh:
        fresh.send(b"new socket, no redis")
        assert fresh.recv(timeout=3) == b"new socket, no redis"
    status, body = http_status(f"{server.http_url}/healthz")
    assert status == 503 and json.loads(body) == {"status": "unavailable"}
    assert "Redis is unavailable" in server.output()
    # Drain ticks that were already in flight before Redis went.
    try:
        while True:
            time_socket.recv(timeout=0.2)
    except TimeoutError:
        pass

    own_redis.start()
    returned = time.monotonic()
    tick = next_tick(time_socket, timeout=5)  # raises TimeoutError if none within 5 s
    resumed_after = time.monotonic() - returned
    assert resumed_after <= 5.0
    assert tick["seq"] > first["seq"]
    # And it keeps ticking once a second.
    following = next_tick(time_socket, timeout=2)
    assert following["seq"] == tick["seq"] + 1
    status, _ = http_status(f"{server.http_url}/healthz")
    assert status == 200
    assert server.process.poll() is None  # the same Daphne, never restarted


async def test_chat_across_processes_resumes_after_redis_returns(daphne, own_redis, channel_prefix):
    """Two Daphne processes share the outaged Redis. A chat socket on each
    stays open through the outage; within 5 s of Redis returning, a post made
    on process A reaches the reader on process B again (no restart)."""
    import asyncio

    from tests.support.chat import ChatClient, http_signup, unique

    env = {"REDIS_URL": f"redis://127.0.0.1:{own_redis.port}/0", "CHANNEL_LAYER_PREFIX": channel_prefix}
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("outage")
    alice = http_signup(server_a, unique("alice"))
    async with ChatClient(server_b, room) as reader, ChatClient(server_a, room, alice) as writer:
        await writer.send(action="post", text="before the outage")
        assert (await reader.expect("message"))["message"]["text"] == "before the outage"

        own_redis.stop()
        await asyncio.sleep(3)
        own_redis.start()
        returned = time.monotonic()

        # Post until one crosses to B (posts during reconnection may fail
        # with an error frame; that is fine, none may be lost once acked).
        delivered_after, attempt = None, 0
        while delivered_after is None and time.monotonic() - returned < 5:
            attempt += 1
            await writer.send(action="post", text=f"after the outage {attempt}", client_id=f"after-{attempt}")
            try:
                frame = await reader.frame(timeout=0.5)
            except TimeoutError:
                continue
            if frame.get("type") == "message" and frame["message"]["text"].startswith("after the outage"):
                delivered_after = time.monotonic() - returned
        assert delivered_after is not None, "chat did not resume within 5 s of Redis returning"
        assert delivered_after <= 5.0
    assert server_a.process.poll() is None and server_b.process.poll() is None
