"""Path traversal through the static file handler of a real server: every
attempt to climb out of the static folders (plain, %-encoded, double-
encoded, backslashes, absolute paths) is a 404 with no file content and no
traceback, with DEBUG on and off; real static files are still served, and
nothing outside STATIC_URL is served as a file."""

import http.client

import pytest

from tests.support.paths import ROOT

SETTINGS_TEXT = (ROOT / "config" / "settings.py").read_text()

TRAVERSALS = [
    "/static/../config/settings.py",
    "/static/../../etc/passwd",
    "/static/realtime/../../config/settings.py",
    "/static/..%2fconfig/settings.py",
    "/static/%2e%2e/config/settings.py",
    "/static/%2e%2e%2fconfig%2fsettings.py",
    "/static/%2E%2E/%2E%2E/etc/passwd",
    "/static/%252e%252e/config/settings.py",
    "/static/..%5cconfig%5csettings.py",
    "/static/..\\config\\settings.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/realtime/style.css%00.py",
]

NOT_STATIC = [
    "/config/settings.py",
    "/manage.py",
    "/realtime/models.py",
    "/.env",
    "/db.sqlite3",
    "/static",
    "/staticfiles/realtime/style.css",
    "/x/static/realtime/style.css",
]


def get(server, path):
    """GET `path` exactly as written (http.client does not normalise it)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.mark.parametrize("debug", ["1", "0"], ids=["debug-on", "debug-off"])
def test_traversal_out_of_the_static_folders_is_404(daphne, debug):
    """Tried: the paths in TRAVERSALS, each aiming at config/settings.py or
    /etc/passwd, on a server with DEBUG on and one with DEBUG off."""
    server = daphne(DJANGO_DEBUG=debug, DJANGO_SECRET_KEY="test-only-secret-key-for-the-traversal-test")
    for path in TRAVERSALS:
        status, body = get(server, path)
        assert status == 404, f"{path}: {status}\n{body[:500]}"
        assert "SECRET_KEY" not in body and "root:" not in body, f"{path} leaked a file"
        assert "Traceback" not in body and "SuspiciousFileOperation" not in body, path
    log = server.output()
    assert "Traceback" not in log and "SuspiciousFileOperation" not in log, log[-3000:]
    assert " 500 " not in log, log[-3000:]
    # Real static files are still there.
    status, body = get(server, "/static/realtime/style.css")
    assert status == 200 and body == (ROOT / "static" / "realtime" / "style.css").read_text()


def test_only_static_url_is_served_as_files(daphne):
    """Tried: project files by their paths from the repository root, and
    STATIC_URL-lookalike prefixes: none is a file the server hands out."""
    server = daphne()
    for path in NOT_STATIC:
        status, body = get(server, path)
        assert status == 404, f"{path}: {status}"
        assert SETTINGS_TEXT[:200] not in body
    assert "Traceback" not in server.output()
