"""What an anonymous client can make the server write to its log.

What is tried, against a real server (text logs, as `make run`):
- /ws/person with {"Name": "a", "Emails": [""] * 16000}, three times: the Go
  server prints a line per email, which was 16,000 lines a message (48,008
  for three) and slowed every other socket of the process meanwhile. Now one
  bounded line a message.
- A Name holding a newline and a forged log line after it, and terminal
  escape sequences: the text log must show them escaped inside the one line
  of that message, never as a line of their own.
- A Name of 60,000 characters: the line is cut at LOG_MESSAGE_MAX_CHARS."""

import json
import time

from websockets.sync.client import connect

FORGED = "2026-12-02 12:00:00,000 CRITICAL django.security admin logged in from 10.0.0.1"
MAX_CHARS = 500


def person_lines(server, expected, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.output().splitlines() if " realtime.person " in line]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_person_message_writes_one_bounded_line_that_cannot_forge_another(daphne):
    server = daphne(LOG_MESSAGE_MAX_CHARS=MAX_CHARS)
    with connect(f"{server.ws_url}/ws/person", max_size=None) as ws:
        for _ in range(3):
            ws.send(json.dumps({"Name": "a", "Emails": [""] * 16000}))
            assert json.loads(ws.recv(timeout=10)) == {"Name": "a", "Emails": 16000}
        ws.send(json.dumps({"Name": f"mallory\n{FORGED}\r\x1b[2Kcleared", "Emails": ["m@example.com"]}))
        assert json.loads(ws.recv(timeout=10))["Emails"] == 1
        ws.send(json.dumps({"Name": "n" * 60000, "Emails": []}))
        assert json.loads(ws.recv(timeout=10))["Emails"] == 0

    lines = person_lines(server, 5)
    output = server.output()
    assert len(lines) == 5, f"{len(lines)} person log lines for 5 messages: {lines[:3]}"
    assert output.count("\n") < 200, f"the server wrote {output.count(chr(10))} log lines"
    assert lines[0].endswith("Name: a; 16000 emails: , , , , , , , , ,  (and 15990 more)"), lines[0]

    # The forged line exists only escaped, inside the line of its message.
    assert not any(line.startswith(FORGED) for line in output.splitlines()), "a client forged a log line"
    assert "\x1b" not in output, "a terminal escape sequence reached the log"
    assert lines[3].endswith(f"Name: mallory\\n{FORGED}\\r\\x1b[2Kcleared; 1 emails: m@example.com"), lines[3]

    # The long one is cut.
    assert len(lines[4]) < MAX_CHARS + 200, f"a log line of {len(lines[4])} characters"
    assert lines[4].endswith("more characters]"), lines[4][-100:]
