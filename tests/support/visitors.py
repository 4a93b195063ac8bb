"""An HTTP client that behaves like one browser at one address, for tests
of per-client limits: its own loopback address (127.x.y.z, which the
server sees as the TCP peer), its cookies, the CSRF token of each form."""

import http.client
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from tests.support.chat import loopback_address


class Visitor:
    """A browser-like client from one address: cookies, CSRF token, no
    redirects followed."""

    def __init__(self, server, address=None):
        self.server = server
        self.address = address or loopback_address()
        self.cookies = {}

    def request(self, method, path, fields=None, headers=None):
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=20, source_address=(self.address, 0)
        )
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urlencode(fields)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            all_headers["Referer"] = self.server.http_url + path
        try:
            connection.request(method, path, body, all_headers)
            response = connection.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return response.status, response.getheader("Location"), text
        finally:
            connection.close()

    def login(self, username, password, path="/accounts/login/", **headers):
        token = self.form_token(path)
        return self.request(
            "POST",
            path,
            {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/"},
            headers,
        )

    def form_token(self, path):
        _, _, page = self.request("GET", path)
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
