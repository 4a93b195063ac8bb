"""The server as a Channels user meets it: the Channels tutorial's chat
project (tutorial_project/: its own settings with nothing of ours,
AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...))), the async
ChatConsumer) served by `python -m realtime.server ... mysite.asgi:application`
from the project's own folder, our package found on PYTHONPATH as an
installed one would be."""

import json
import os
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port
from tests.support.servers import ServerProcess

PROJECT = Path(__file__).resolve().parent / "tutorial_project"


@pytest.fixture
def tutorial_server(tmp_path):
    # Nothing of this repository's settings leaks in from the test process.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REALTIME_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", TUTORIAL_DB=str(tmp_path / "db.sqlite3"))
    port = free_port()
    server = ServerProcess(
        [PYTHON, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port), "mysite.asgi:application"],
        env,
        tmp_path / "server.log",
        port,
        name="realtime.server with the tutorial project",
        cwd=PROJECT,
    )
    yield server
    server.stop()


def test_the_tutorial_chat_is_served_and_chats(tutorial_server):
    """Tried: two browsers (an Origin of the allowed host) in room lobby; one
    posts, both get the message as the tutorial's consumer sends it."""
    url = f"ws://127.0.0.1:{tutorial_server.port}/ws/chat/lobby/"
    origin = f"http://127.0.0.1:{tutorial_server.port}"
    with connect(url, origin=origin) as alice, connect(url, origin=origin) as bob:
        alice.send(json.dumps({"message": "hello from alice"}))
        assert json.loads(alice.recv(timeout=10)) == {"message": "hello from alice"}
        assert json.loads(bob.recv(timeout=10)) == {"message": "hello from alice"}
        bob.send(json.dumps({"message": ""}))  # an empty chat message too
        assert json.loads(alice.recv(timeout=10)) == {"message": ""}
    assert "Traceback" not in tutorial_server.output(), tutorial_server.output()


def test_the_tutorial_origin_check_still_refuses_other_sites(tutorial_server):
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{tutorial_server.port}/ws/chat/lobby/", origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_a_consumer_can_pickle_its_scope(tutorial_server):
    """Code that copies or stores a scope pickles it (Daphne's own test
    application does): the server puts only plain data there, and says in
    scope["extensions"] what it offers beyond ASGI."""
    url = f"ws://127.0.0.1:{tutorial_server.port}/ws/scope/"
    with connect(url, origin=f"http://127.0.0.1:{tutorial_server.port}") as ws:
        answer = json.loads(ws.recv(timeout=10))
    assert answer["pickled"] is True, answer
    assert list(answer["extensions"]) == ["realtime.broadcast"]
    assert isinstance(answer["extensions"]["realtime.broadcast"]["connection"], int)
