"""What a user and an operator do through the stack's one port: pages with
a cookie jar, forms with their CSRF token, sockets with the session cookie;
and which `web` replica holds a socket (the replica's own TCP table, read
with `docker exec`)."""

import http.cookiejar
import json
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from websockets.sync.client import connect

PASSWORD = "plum-harbour-47-lantern"
HTTP_PORT_HEX = "1F40"  # 8000, the port every replica serves on
LOOPBACK_HEX = "0100007F"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


class Visitor:
    """A browser without JavaScript: cookies, forms, the CSRF token."""

    def __init__(self, base, context=None, follow_redirects=True):
        self.base, self.context = base, context
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow_redirects:
            handlers.append(NoRedirect())
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def get(self, path):
        try:
            with self.opener.open(self.base + path, timeout=20) as response:
                return response.status, response.read(), response
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error

    def submit(self, path, fields):
        """GET the form, POST it back with its token; the page landed on."""
        status, page, _ = self.get(path)
        assert status == 200, (path, status)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path, "Origin": self.base}
        )
        with self.opener.open(request, timeout=20) as response:
            return response.geturl(), response.read().decode()

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def socket(self, path, **kwargs):
        ws_base = self.base.replace("http", "ws", 1)
        session = self.cookie("sessionid")
        headers = {"Cookie": f"sessionid={session}"} if session else {}
        return connect(
            ws_base + path,
            additional_headers=headers,
            ssl=self.context if self.context else None,
            open_timeout=20,
            **kwargs,
        )


def frames_until(socket, wanted, match=lambda frame: True, timeout=20.0):
    """The first JSON frame of type `wanted` that `match` takes (presence
    updates and the others skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if frame.get("type") == wanted and match(frame):
            return frame


def tls_context(ca_file):
    return ssl.create_default_context(cafile=str(ca_file))


class Replicas:
    """The `web` containers and the sockets each holds from the proxy."""

    def __init__(self, engine):
        self.engine = engine

    def ids(self):
        listed = self.engine.compose("ps", "-q", "web").stdout.split()
        return sorted(listed)

    def proxied_sockets(self, container):
        """Established connections to port 8000 from another host (the
        proxy), not the health check's from loopback."""
        table = self.engine.docker(
            "exec", container, "sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true"
        ).stdout
        count = 0
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or ":" not in fields[1]:
                continue
            local_port = fields[1].split(":")[1]
            remote_ip = fields[2].split(":")[0]
            if local_port == HTTP_PORT_HEX and fields[3] == "01" and not remote_ip.endswith(LOOPBACK_HEX):
                count += 1
        return count

    def counts(self):
        return {container: self.proxied_sockets(container) for container in self.ids()}

    def open_on(self, open_socket, accept, attempts=40):
        """Open sockets with `open_socket()` until one lands on a replica
        `accept(container)` takes; the others are closed. (socket, replica)."""
        for _ in range(attempts):
            before = self.counts()
            socket = open_socket()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                after = self.counts()
                grown = [c for c in after if after[c] > before.get(c, 0)]
                if len(grown) == 1:
                    break
                time.sleep(0.2)
            else:
                with socket:  # closed
                    continue
            if accept(grown[0]):
                return socket, grown[0]
            with socket:  # closed
                pass
        raise AssertionError(f"no socket landed on a wanted replica in {attempts} attempts: {self.counts()}")
