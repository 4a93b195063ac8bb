"""Secrets in request traces, on a real server whose traces are read from
its database and from the staff pages: credential-named query values in
any spelling are redacted before they are stored; received messages are
kept as kind and size only; a preview of their start is kept only with
REALTIME_TRACE_PAYLOAD_PREVIEW set, and shown only to staff with the
view_sensitive_events permission."""

import json
import urllib.parse
import uuid

import websockets.sync.client as ws_client

from tests.support.trace_db import Browser, all_stored_text, event_texts, make_user, wait_for_rows

# The writer every 0.2 s; everything else at its default (no previews).
FAST = {"REALTIME_TRACING": "1", "REALTIME_TRACE_FLUSH_SECONDS": "0.2"}

CREDENTIAL_KEYS = [
    "access_token",
    "client_secret",
    "password1",
    "x-api-key",
    "Authorization",
    "session_id",
    "sessionid",
    "csrf",
    "csrfmiddlewaretoken",
    "refresh_token",
    "AccessToken",
    "api_key",
    "apiKey",
    "new-password",
    "id_token",
    "X-CSRFToken",
    "private_key",
    "signature",
    "auth",
    "code",
]
# %-encoded and double-encoded spellings of credential keys, as sent.
ENCODED_KEYS = ["pass%77ord", "access%5Ftoken", "client%5fsecret", "pass%2577ord", "%61pi_key", "to%6Ben"]


def test_credential_named_query_values_are_redacted_before_storage(daphne, server_database):
    """Tried: GETs whose query strings carry a secret under each key in
    CREDENTIAL_KEYS and ENCODED_KEYS (four keys a request), next to an
    ordinary parameter. The stored request lines keep every key and the
    ordinary value; no secret reaches the database or the staff page."""
    server = daphne(**FAST)
    probe = uuid.uuid4().hex
    secrets = {key: f"s3cret-{uuid.uuid4().hex}" for key in CREDENTIAL_KEYS + ENCODED_KEYS}
    keys = list(secrets)
    for start in range(0, len(keys), 4):
        chunk = keys[start : start + 4]
        query = "&".join(
            [f"probe={probe}-{start}"]
            + [
                f"{key}={secrets[key]}" if key in ENCODED_KEYS else urllib.parse.urlencode({key: secrets[key]})
                for key in chunk
            ]
        )
        status, _, _ = Browser(server.http_url).get(f"/mouse/?{query}")
        assert status == 200
        (row,) = wait_for_rows(
            server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%probe={probe}-{start}&%",)
        )
        request_line = event_texts(row)[0]
        for key in chunk:
            spelled = key if key in ENCODED_KEYS else urllib.parse.quote_plus(key)
            assert f"{spelled}=[redacted]" in request_line, (key, request_line)
    stored = all_stored_text(server_database)
    leaked = [key for key, value in secrets.items() if value in stored]
    assert not leaked, f"stored in clear: {leaked}"

    username, password = make_user(server_database, staff=True, sensitive=True)
    staff = Browser(server.http_url)
    staff.admin_login(username, password)
    _, _, page = staff.get(
        "/debug/requests?" + urllib.parse.urlencode({"fam": "http.GET /mouse/", "b": "0", "exp": "1"})
    )
    assert probe in page and "[redacted]" in page
    assert not [key for key, value in secrets.items() if value in page]


def test_received_messages_are_kept_as_kind_and_size_only_by_default(daphne, server_database):
    """Tried: a JSON message with a "password", chat-like free text and a
    binary message on /ws/echo, on a server with default settings. Their
    traces say "text, N chars" / "binary, N bytes"; none of what was sent
    is stored or shown, even to a superuser."""
    server = daphne(**FAST)
    secret = f"hunter2-{uuid.uuid4().hex}"
    words = f"meet me at the old mill at midnight {uuid.uuid4().hex}"
    blob = uuid.uuid4().bytes * 4
    sent = [json.dumps({"user": "ann", "password": secret}), words, blob]
    with ws_client.connect(server.ws_url + "/ws/echo") as socket:
        port = socket.local_address[1]
        for message in sent:
            socket.send(message)
            assert socket.recv(5) == message
    wait_for_rows(
        server_database, "SELECT * FROM realtime_eventlogrecord WHERE title = ?", (f"/ws/echo 127.0.0.1:{port}",)
    )
    rows = wait_for_rows(
        server_database,
        "SELECT * FROM realtime_tracerecord WHERE family = 'websocket.Receive' "
        "AND (events LIKE ? OR events LIKE ? OR events LIKE ?)",
        (f"%text, {len(sent[0])} chars%", f"%text, {len(words)} chars%", "%binary, 64 bytes%"),
        count=3,
    )
    for row in rows:
        assert len(event_texts(row)) == 1 and not any("preview" in text for text in event_texts(row)), row
    stored = all_stored_text(server_database)
    for leak in (secret, words, blob.hex(), "old mill"):
        assert leak not in stored

    username, password = make_user(server_database, staff=True)
    admin = Browser(server.http_url)
    admin.admin_login(username, password)
    _, _, page = admin.get("/debug/requests?fam=websocket.Receive&b=0&exp=1")
    assert f"text, {len(words)} chars" in page
    assert secret not in page and "old mill" not in page


def test_previews_are_opt_in_and_shown_only_with_the_permission(daphne, server_database):
    """Tried: with REALTIME_TRACE_PAYLOAD_PREVIEW=80, a message is sent;
    then its trace is read on /debug/requests and in the admin by a staff
    user without view_sensitive_events (sees the size and [redacted]) and
    by one with it (sees the preview)."""
    server = daphne(**FAST, REALTIME_TRACE_PAYLOAD_PREVIEW="80")
    probe = uuid.uuid4().hex
    with ws_client.connect(server.ws_url + "/ws/echo") as socket:
        socket.send(f"private words {probe}")
        socket.recv(5)
    (row,) = wait_for_rows(server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%{probe}%",))
    assert [event[3] for event in row["events"]] == [False, True]  # the preview is marked sensitive

    def pages_for(sensitive):
        username, password = make_user(server_database, staff=True, sensitive=sensitive)
        browser = Browser(server.http_url)
        browser.admin_login(username, password)
        _, _, listing = browser.get("/debug/requests?fam=websocket.Receive&b=0&exp=1")
        _, _, detail = browser.get(f"/admin/realtime/tracerecord/{row['id']}/change/")
        return listing, detail

    for page in pages_for(sensitive=False):
        assert f"text, {len(probe) + 14} chars" in page
        assert probe not in page and "[redacted]" in page
    for page in pages_for(sensitive=True):
        assert f"preview: &#x27;private words {probe}&#x27;" in page or f"private words {probe}" in page


def test_nested_queries_subprotocol_tokens_and_what_clients_sent_in_errors_are_not_stored(daphne, server_database):
    """Tried: a login-style `next=` whose value is a URL with a token in its
    own (%-encoded) query; a socket offering `bearer.<token>` as its
    Sec-WebSocket-Protocol (where browser clients put tokens); an XML
    message whose root tag is a secret, which the server refuses quoting
    it. The traces keep what helps debugging (the path, `token=`,
    `bearer.`, the error code) and none of the three secrets."""
    server = daphne(**FAST)
    probe = uuid.uuid4().hex
    nested, bearer, sent_tag = (f"s3cret{uuid.uuid4().hex}" for _ in range(3))

    status, _, _ = Browser(server.http_url).get(f"/mouse/?probe={probe}&next=/chat/x%3Ftoken%3D{nested}%26a%3D1")
    assert status == 200
    (row,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_tracerecord WHERE events LIKE ?", (f"%probe={probe}&%",)
    )
    assert f"probe={probe}&next=/chat/x?token=[redacted]&a=1" in event_texts(row)[0], event_texts(row)

    with ws_client.connect(server.ws_url + "/ws/person/xml", subprotocols=[f"bearer.{bearer}", "xml"]) as socket:
        port = socket.local_address[1]
        socket.send(f"<{sent_tag}><Name>a</Name></{sent_tag}>")
        assert "invalid_shape" in socket.recv(5)
    (log,) = wait_for_rows(
        server_database, "SELECT * FROM realtime_eventlogrecord WHERE title = ?", (f"/ws/person/xml 127.0.0.1:{port}",)
    )
    assert any("subprotocols bearer.[redacted], xml" in text for text in event_texts(log)), event_texts(log)
    (error,) = wait_for_rows(
        server_database,
        "SELECT * FROM realtime_tracerecord WHERE title = ? AND is_error = 1 "
        "AND events LIKE '%invalid_shape%' ORDER BY id DESC LIMIT 1",
        ("/ws/person/xml",),
    )
    assert any("expected <Person>, got …" in text for text in event_texts(error)), event_texts(error)

    stored = all_stored_text(server_database)
    leaked = [name for name, secret in (("nested", nested), ("bearer", bearer), ("tag", sent_tag)) if secret in stored]
    assert not leaked, f"stored in clear: {leaked}"
