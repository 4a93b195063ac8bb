"""`docker compose up` for real: the images built (the lock installed inside
the app's), the official base images or Debian stand-ins where Docker Hub
cannot be reached (tests/compose/images.py), the stack started with nothing
set but the published port, `up -d --wait --scale web=3`, and then what a
user and an operator do through nginx, the one published port:

- every page, a static file, /favicon.ico and /healthz;
- every seed socket, with the samples' wire protocols;
- a chat between two signed-up users whose sockets are held by different
  replicas: live delivery both ways, the history on reconnecting;
- an admin made with the documented command logs in and watches traces
  arrive live;
- `docker compose restart web` keeps the chat's history;
- `--scale web=4`: the new replica gets sockets without a proxy restart;
- `docker compose down -v`.

The same again with the TLS override (plain HTTP answers 301 to HTTPS;
wss:// sockets). The engine is this test's own dockerd (tests/compose/
engine.py); `make test-compose` installs what it needs first."""

import json
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
from websockets.exceptions import ConnectionClosedOK

from tests.compose.engine import PROJECT
from tests.compose.images import say
from tests.compose.web_client import PASSWORD, Replicas, Visitor, frames_until, tls_context
from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port

TLS_FILES = ("-f", "docker-compose.yml", "-f", "docker-compose.tls.yml")
PAGES = ("/", "/mouse/", "/echo/", "/chat/lobby/", "/accounts/login/", "/accounts/signup/")
UP_TIMEOUT = 900


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Stack:
    def __init__(self, engine, files, env):
        self.engine, self.files, self.env = engine, files, env

    def compose(self, *args, **kwargs):
        return self.engine.compose(*self.files, *args, env=self.env, **kwargs)

    def up(self, replicas):
        """`up --build`: the engine keeps images between runs, and an image
        named realtime-app from an earlier checkout would be used as is."""
        started = time.monotonic()
        self.compose("up", "-d", "--build", "--wait", "--scale", f"web={replicas}", timeout=UP_TIMEOUT)
        return time.monotonic() - started

    def states(self):
        listed = self.compose("ps", "-a", "--format", "json").stdout
        rows = [json.loads(line) for line in listed.splitlines() if line.strip()]
        if len(rows) == 1 and isinstance(rows[0], list):
            rows = rows[0]
        return {row["Name"]: (row["Service"], row["State"], row.get("Health", ""), row.get("ExitCode")) for row in rows}

    def started_at(self, service):
        (container,) = self.compose("ps", "-q", service).stdout.split()
        return self.engine.docker("inspect", "--format", "{{.State.StartedAt}}", container).stdout.strip()

    def down(self):
        self.compose("down", "-v", "--remove-orphans", timeout=300)


@pytest.fixture
def stack(engine, image_variables):
    """Start-and-clean-up: `down -v` whatever happened (and once before, for
    a run that was killed)."""
    stacks = []

    def make(files, extra_env):
        env = {**image_variables, **extra_env}
        made = Stack(engine, files, env)
        made.down()
        stacks.append(made)
        return made

    yield make
    for made in stacks:
        if made.engine.process and made.engine.process.poll() is None:
            made.compose("logs", "--no-color", "--tail", "40", check=False)
            made.down()


def assert_all_healthy(stack, replicas):
    states = stack.states()
    by_service = {}
    for service, state, health, exit_code in states.values():
        by_service.setdefault(service, []).append((state, health, exit_code))
    assert by_service["secrets"] == [("exited", "", 0)], states
    assert by_service["setup"] == [("exited", "", 0)], states
    for service in ("postgres", "redis", "proxy"):
        assert by_service[service] == [("running", "healthy", 0)], states
    assert by_service["web"] == [("running", "healthy", 0)] * replicas, states


def check_pages(visitor):
    for path in PAGES:
        status, body, _ = visitor.get(path)
        assert status == 200, (path, status, body[:300])
        assert b'href="/static/realtime/style.css"' in body, path
    status, body, response = visitor.get("/static/realtime/style.css")
    assert status == 200 and body == (ROOT / "static" / "realtime" / "style.css").read_bytes()
    assert response.headers.get("Expires")  # from nginx's `expires`: the volume `setup` filled
    status, body, response = visitor.get("/favicon.ico")
    assert status == 200 and response.headers["Content-Type"].startswith("image/"), (status, body[:200])
    status, body, _ = visitor.get("/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def check_seed_sockets(visitor):
    with visitor.socket("/ws/echo") as ws:
        for message in ("hello", "", b"\x00binary"):
            ws.send(message)
            assert ws.recv(timeout=10) == message
    for path in ("/ws/mouse", "/wsecho"):
        with visitor.socket(path) as ws:
            ws.send(json.dumps({"x": 3, "y": 4}))
            assert json.loads(ws.recv(timeout=10)) == {"x": 3, "y": 4}
    with visitor.socket("/ws/time") as ws:
        ticks = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
        assert ticks[1]["seq"] > ticks[0]["seq"] and ticks[0]["time"].endswith(" UTC"), ticks
    with visitor.socket("/wstime") as ws:
        assert ws.recv(timeout=5).endswith(" UTC")
    with visitor.socket("/ws/received") as ws:
        ws.send("hi")
        assert ws.recv(timeout=10) == "Received: hi"
    with visitor.socket("/ws/hello") as ws:
        for n in range(10):
            assert ws.recv(timeout=10) == f"Hello {n}"
            ws.send(f"reply {n}")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=10)
        assert ws.close_code == 1000
    with visitor.socket("/ws/person") as ws:
        ws.send(json.dumps({"Name": "Ann", "Emails": ["a@x", "b@y"]}))
        assert json.loads(ws.recv(timeout=10)) == {"Name": "Ann", "Emails": 2}
    with visitor.socket("/ws/person", subprotocols=["xml"]) as ws:
        assert ws.subprotocol == "xml"
        ws.send("<Person><Name>Ann</Name><Emails>a@x</Emails></Person>")
        ack = ET.fromstring(ws.recv(timeout=10))
        assert (ack.tag, ack.findtext("Name"), ack.findtext("Emails")) == ("Ack", "Ann", "1")
    with visitor.socket("/ws/person/xml") as ws:
        ws.send("<Person><Name>Jan</Name><Emails>a@b</Emails></Person>")
        assert ws.recv(timeout=10) == "<Ack><Name>Jan</Name><Emails>1</Emails></Ack>"


def sign_up(base, context):
    visitor = Visitor(base, context)
    name = unique("user")
    landed, _ = visitor.submit("/accounts/signup/", {"username": name, "password1": PASSWORD, "password2": PASSWORD})
    assert visitor.cookie("sessionid"), landed
    return visitor, name


def check_chat_across_replicas(base, context, replicas):
    """Two users whose sockets different replicas hold; returns the room and
    the texts it holds."""
    alice, alice_name = sign_up(base, context)
    bob, bob_name = sign_up(base, context)
    room = unique("room")
    path = f"/ws/chat/{room}/"
    alice_ws, alice_replica = replicas.open_on(lambda: alice.socket(path), lambda replica: True)
    bob_ws, bob_replica = replicas.open_on(lambda: bob.socket(path), lambda replica: replica != alice_replica)
    with alice_ws, bob_ws:
        for ws, name in ((alice_ws, alice_name), (bob_ws, bob_name)):
            joined = frames_until(ws, "joined")
            assert joined["user"]["name"] == name and joined["messages"] == [], joined
        texts = []
        for sender, receiver, text in (
            (alice_ws, bob_ws, "hello from one replica"),
            (bob_ws, alice_ws, "and back from another"),
        ):
            sender.send(json.dumps({"action": "post", "text": text, "client_id": unique("c")}))
            ack = frames_until(sender, "ack")
            seen = frames_until(receiver, "message", lambda frame, sent=ack["id"]: frame["message"]["id"] == sent)
            assert (seen["message"]["id"], seen["message"]["text"]) == (ack["id"], text)
            texts.append(text)
    # A reload: the history comes with the new socket, whichever replica.
    with bob.socket(path) as again:
        assert [m["text"] for m in frames_until(again, "joined")["messages"]] == texts
    return room, texts


def history(visitor, room):
    with visitor.socket(f"/ws/chat/{room}/") as ws:
        return [m["text"] for m in frames_until(ws, "joined")["messages"]]


def check_admin_sees_live_traces(stack, base, context):
    """The admin account made with the README's command (Django's
    createsuperuser, non-interactive), then the admin and the live traces."""
    name, password = unique("admin"), unique("pw-") + "-Kq7"
    stack.compose(
        "run",
        "--rm",
        "-e",
        f"DJANGO_SUPERUSER_PASSWORD={password}",
        "setup",
        "python",
        "manage.py",
        "createsuperuser",
        "--noinput",
        "--username",
        name,
        "--email",
        f"{name}@example.com",
        timeout=300,
    )
    admin = Visitor(base, context)
    landed, page = admin.submit(
        "/admin/login/?next=/admin/", {"username": name, "password": password, "next": "/admin/"}
    )
    assert landed.endswith("/admin/") and "Site administration" in page, landed
    status, body, _ = admin.get("/debug/requests")
    assert status == 200 and b"trace-summary" in body
    # The open connections, live: one opened now (on any replica) appears
    # without a reload.
    with admin.socket("/ws/debug/requests?fam=websocket.Conn&b=-1") as live:
        first = json.loads(live.recv(timeout=20))
        assert "/ws/person/xml" not in first["list"]
        with Visitor(base, context).socket("/ws/person/xml"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                update = json.loads(live.recv(timeout=30))
                if "/ws/person/xml" in update["list"]:
                    break
            else:
                raise AssertionError(f"the live traces never showed the new connection: {str(first)[:500]}")
        assert 'data-family="websocket.Conn"' in update["summary"]


def run_scenario(stack, base, context):
    replicas = Replicas(stack.engine)
    took = stack.up(3)
    say(f"up -d --wait --scale web=3: {took:.0f} s")
    assert_all_healthy(stack, 3)
    visitor = Visitor(base, context)
    check_pages(visitor)
    check_seed_sockets(visitor)
    room, texts = check_chat_across_replicas(base, context, replicas)
    check_admin_sees_live_traces(stack, base, context)

    stack.compose("restart", "web", timeout=300)
    stack.up(3)  # waits for the restarted replicas to be healthy again
    assert history(visitor, room) == texts

    proxy_started = stack.started_at("proxy")
    old = set(replicas.ids())
    stack.up(4)
    (new,) = set(replicas.ids()) - old
    assert stack.started_at("proxy") == proxy_started  # nginx was not restarted
    socket, replica = replicas.open_on(lambda: visitor.socket("/ws/echo"), lambda replica: replica == new)
    with socket:
        socket.send("from the new replica")
        assert socket.recv(timeout=10) == "from the new replica"
    assert_all_healthy(stack, 4)


def test_compose_up_serves_the_whole_stack_through_nginx(engine, stack):
    port = free_port()
    plain = stack(["-f", "docker-compose.yml"], {"HTTP_PORT": str(port)})
    run_scenario(plain, f"http://localhost:{port}", None)
    plain.down()
    assert not plain.compose("ps", "-a", "-q").stdout.strip()
    volumes = engine.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
    assert not volumes.stdout.strip()


def test_compose_up_with_the_tls_override(engine, stack):
    made = subprocess.run([PYTHON, "scripts/dev_cert.py", "certs"], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    port, tls_port = free_port(), free_port()
    tls = stack(list(TLS_FILES), {"HTTP_PORT": str(port), "HTTPS_PORT": str(tls_port)})
    context = tls_context(ROOT / "certs" / "ca.pem")
    base = f"https://localhost:{tls_port}"
    # Plain HTTP answers only with the way to HTTPS: pages, files, sockets.
    tls.up(3)
    for path in ("/", "/static/realtime/style.css", "/ws/echo"):
        status, _, response = Visitor(f"http://localhost:{port}", follow_redirects=False).get(path)
        assert (status, response.headers["Location"]) == (301, f"https://localhost:{tls_port}{path}")
    run_scenario(tls, base, context)
    status, _, response = Visitor(base, context).get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    tls.down()
