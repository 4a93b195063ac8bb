"""The contract with the libraries' internals (realtime/server/internals.py):
probed when the server starts, so a release whose internals moved stops it
with one line, instead of failing later under load.

A moved internal is made the way an upgrade would make it: a fake of the
library, here a sitecustomize on PYTHONPATH that deletes or renames one
attribute before anything else runs."""

import subprocess
import textwrap
from importlib import metadata

from websockets.sync.client import connect

from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port, wait_for_port
from tests.support.servers import server_environment

FOUND = ", ".join(f"{name} {metadata.version(name)}" for name in ("daphne", "Twisted", "autobahn", "channels-redis"))


def start_with_fake(tmp_path, fake_source, **env):
    """`python -m realtime.server` with `fake_source` run first (sitecustomize)."""
    shim = tmp_path / "fake"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(textwrap.dedent(fake_source))
    port = free_port()
    full_env = server_environment(f"sqlite:///{tmp_path / 'db.sqlite3'}", PYTHONPATH=f"{shim}:{ROOT}", **env)
    process = subprocess.Popen(
        [PYTHON, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def refusal(process):
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, [line for line in stderr.splitlines() if line.strip()]


def test_the_contract_holds_on_the_installed_releases():
    result = subprocess.run(
        [PYTHON, "-c", "import daphne.server; from realtime.server import internals; print(internals.moved())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_refuses_to_start_on_an_autobahn_whose_parser_entry_moved(tmp_path):
    # Tried: autobahn without WebSocketProtocol._dataReceived (the input
    # fast path hands every other frame to it).
    process, port = start_with_fake(
        tmp_path,
        """
        import autobahn.websocket.protocol as protocol
        del protocol.WebSocketProtocol._dataReceived
    """,
    )
    code, lines = refusal(process)
    assert code == 1
    assert lines[-1] == (
        "error: realtime.server relies on internals that moved: "
        "autobahn.websocket.protocol.WebSocketProtocol._dataReceived is gone "
        f"(found {FOUND}; see realtime/server/internals.py)"
    ), lines
    assert sum("internals that moved" in line for line in lines) == 1, lines
    assert not any("Traceback" in line for line in lines), lines


def test_refuses_to_start_on_a_twisted_whose_reactor_moved(tmp_path):
    # Tried: Twisted's asyncio reactor with _readOrWrite renamed (the direct
    # dispatch of reads registers it).
    process, port = start_with_fake(
        tmp_path,
        """
        from twisted.internet import asyncioreactor
        reactor_class = asyncioreactor.AsyncioSelectorReactor
        reactor_class._read_or_write = reactor_class._readOrWrite
        del reactor_class._readOrWrite
    """,
    )
    code, lines = refusal(process)
    assert code == 1
    assert lines[-1] == (
        "error: realtime.server relies on internals that moved: "
        "twisted.internet.asyncioreactor.AsyncioSelectorReactor._readOrWrite is gone "
        f"(found {FOUND}; see realtime/server/internals.py)"
    ), lines


def test_the_setting_turns_the_stop_into_a_warning_said_at_start(tmp_path):
    # Tried: channels-redis without _get_group_channel_name (only the sharded
    # Redis fan-out asks it), with REALTIME_ALLOW_MOVED_INTERNALS=1: the
    # server starts, says so, and serves.
    process, port = start_with_fake(
        tmp_path,
        """
        import channels_redis.pubsub as pubsub
        del pubsub.RedisPubSubLoopLayer._get_group_channel_name
    """,
        REALTIME_ALLOW_MOVED_INTERNALS="1",
    )
    try:
        assert wait_for_port(port, timeout=60, process=process), process.communicate(timeout=5)
        with connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
            ws.send("still serving")
            assert ws.recv(timeout=10) == "still serving"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    warnings = [line for line in stderr.splitlines() if "internals that moved" in line]
    assert len(warnings) == 1, stderr
    assert (
        "channels_redis.pubsub.RedisPubSubLoopLayer._get_group_channel_name is gone" in warnings[0]
        and "starting anyway: REALTIME_ALLOW_MOVED_INTERNALS is on" in warnings[0]
    ), warnings


def test_lazy_debug_install_defers_autobahns_settings_dump():
    import autobahn.websocket.protocol as autobahn_protocol

    from realtime.server import lazy_debug

    formatted = []

    class Settings:
        def __repr__(self):
            formatted.append(True)
            return "<settings>"

    lazy_debug.install()
    assert autobahn_protocol.pformat is lazy_debug.LazyPformat
    dump = autobahn_protocol.pformat(Settings())  # what _connectionMade does per connection
    assert formatted == []  # nothing formatted unless the debug line is
    assert f"{dump}" == "<settings>" and formatted == [True]


def test_direct_dispatch_install_takes_over_the_asyncio_reactor_only():
    import asyncio

    from twisted.internet import asyncioreactor, selectreactor

    from realtime.server.direct_dispatch import DirectDispatchReactor, install_direct_dispatch

    loop = asyncio.new_event_loop()
    try:
        reactor = asyncioreactor.AsyncioSelectorReactor(loop)
        install_direct_dispatch(reactor)
        assert type(reactor) is DirectDispatchReactor
        other = selectreactor.SelectReactor()
        install_direct_dispatch(other)
        assert type(other) is selectreactor.SelectReactor
    finally:
        loop.close()
