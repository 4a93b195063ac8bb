"""Request tracing, showing side: who may see the pages and the live
socket, and the pages themselves in headless Chromium with real traffic
against a real Daphne process."""

import json
import re
import urllib.parse
import uuid

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from tests.support.trace_db import TRACED, Browser, make_user, wait_for_rows

PAGES = [
    "/debug/requests",
    "/debug/requests?fam=websocket.Receive&b=0&exp=1",
    "/debug/requests/histogram?fam=websocket.Receive",
    "/debug/events",
    "/debug/events?fam=websocket.Conn&b=all",
    "/admin/realtime/tracerecord/",
    "/admin/realtime/eventlogrecord/",
    "/admin/realtime/requestsummary/",
]


@pytest.fixture
def server(daphne):
    return daphne(**TRACED)


def send_mouse_events(server, count, y=7):
    with ws_client.connect(server.ws_url + "/ws/mouse") as socket:
        for x in range(count):
            socket.send(json.dumps({"x": x, "y": y}))
            socket.recv(5)


def test_anonymous_and_non_staff_get_the_admin_login_not_the_traces(server, server_database):
    """Tried: every tracing page anonymously and as a logged-in user without
    is_staff. Each answer is the admin login page (after a redirect that
    keeps ?next=), never trace data."""
    send_mouse_events(server, 2)
    wait_for_rows(server_database, "SELECT id FROM realtime_tracerecord WHERE family = 'websocket.Receive'")
    username, password = make_user(server_database, staff=False)
    member = Browser(server.http_url)
    # The admin login refuses a non-staff user; log in through the site's own
    # login so the session is real.
    _, _, page = member.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    member.post("/accounts/login/", {"csrfmiddlewaretoken": token, "username": username, "password": password})
    assert member.cookie("sessionid"), "the non-staff user should have a session"
    for browser in (Browser(server.http_url), member):
        for path in PAGES:
            status, where, body = browser.get(path)
            assert status == 200
            assert where.startswith("/admin/login/?next="), (path, where)
            assert urllib.parse.unquote(where.split("next=", 1)[1]).startswith(path.split("?")[0])
            assert 'id="login-form"' in body
            assert "/ws/mouse" not in body and "trace-summary" not in body and "result_list" not in body


def test_live_socket_refuses_anonymous_and_non_staff_and_serves_staff(server, server_database):
    """Tried: /ws/debug/requests with no cookie, with a non-staff session and
    with a staff session. Only the last is accepted; it receives the summary."""
    with pytest.raises(InvalidStatus) as refused:
        ws_client.connect(server.ws_url + "/ws/debug/requests")
    assert refused.value.response.status_code == 403

    username, password = make_user(server_database, staff=False)
    member = Browser(server.http_url)
    _, _, page = member.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    member.post("/accounts/login/", {"csrfmiddlewaretoken": token, "username": username, "password": password})
    with pytest.raises(InvalidStatus) as refused:
        ws_client.connect(server.ws_url + "/ws/debug/requests", additional_headers={"Cookie": member.cookie_header()})
    assert refused.value.response.status_code == 403
    (log,) = wait_for_rows(
        server_database,
        "SELECT * FROM realtime_eventlogrecord WHERE title LIKE "
        "'/ws/debug/requests %' AND events LIKE '%not a staff session%' "
        "ORDER BY id DESC LIMIT 1",
    )
    assert log["is_error"]

    send_mouse_events(server, 2)
    staff_name, staff_password = make_user(server_database, staff=True)
    staff = Browser(server.http_url)
    staff.admin_login(staff_name, staff_password)
    with ws_client.connect(
        server.ws_url + "/ws/debug/requests?fam=websocket.Receive&b=0",
        additional_headers={"Cookie": staff.cookie_header()},
    ) as socket:
        update = json.loads(socket.recv(10))
        assert 'data-family="websocket.Receive"' in update["summary"]
        assert "/ws/mouse" in update["list"]


def test_pages_render_in_chromium_with_real_data(server, server_database, page):
    probe = uuid.uuid4().hex[:12]
    send_mouse_events(server, 3, y=4242)
    with ws_client.connect(server.ws_url + "/ws/mouse") as socket:  # one error trace
        socket.send(json.dumps({"x": "not a number", "y": probe}))
        socket.recv(5)
    wait_for_rows(server_database, "SELECT id FROM realtime_tracerecord WHERE events LIKE ?", (f"%{probe}%",))
    username, password = make_user(server_database, staff=True)
    base = server.http_url

    page.goto(base + "/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(base + "/admin/")

    # Reachable from the admin index.
    page.click("text=Request summary (/debug/requests)")
    page.wait_for_url(base + "/debug/requests")
    row = page.locator('#trace-summary tr[data-family="websocket.Receive"]')
    assert row.locator("td.family").inner_text() == "websocket.Receive"
    assert int(row.locator("td.bucket[data-bucket='0']").inner_text()) >= 1
    assert "empty" in (row.locator("td.bucket[data-bucket='7']").get_attribute("class") or "")  # ≥100s: greyed
    assert int(row.locator("td.errors").inner_text()) >= 1
    headers = page.locator("#trace-summary thead th").all_inner_texts()
    for label in ["≥0s", "≥50ms", "≥100ms", "≥200ms", "≥500ms", "≥1s", "≥10s", "≥100s", "Errors"]:
        assert label.upper() in [h.upper() for h in headers]

    # The count links to its traces; expanded view shows each event.
    row.locator("td.errors a").click()
    page.wait_for_selector("#trace-list")
    assert "websocket.Receive" in page.locator("#list-heading").inner_text()
    page.check("input[name=exp]")
    page.click("input[type=submit][value=Show]")
    page.wait_for_selector("#trace-list tr.event")
    first = page.locator("#trace-list tbody.trace").first
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}", first.locator("td.when").first.inner_text())
    assert re.fullmatch(r"\d+\.\d{6}", first.locator("td.elapsed").inner_text())
    assert "error" in first.get_attribute("class")
    events = first.locator("tr.event")
    # The message's size; its start only to holders of view_sensitive_events.
    assert events.nth(0).inner_text().split("\t")[-1].startswith("text, ")
    assert "[redacted]" in events.nth(1).inner_text() and probe not in first.inner_text()
    assert re.fullmatch(r"\+\d+\.\d{6}", events.nth(2).locator("td.delta").inner_text())

    # Search by title, filter by time.
    page.goto(base + "/debug/requests?q=/ws/mou&since=600")
    assert page.locator("#trace-list tbody.trace").count() >= 1
    page.goto(base + "/debug/requests?q=no-such-title-" + probe)
    assert "No traces match." in page.locator("#trace-list").inner_text()

    # The histogram.
    page.goto(base + "/debug/requests/histogram?fam=websocket.Receive")
    windows = page.locator(".histogram-window")
    assert windows.count() == 3
    assert [w.locator("h3").inner_text() for w in windows.all()] == ["Last minute", "Last hour", "All time"]
    stats = windows.nth(2).locator(".histogram-stats").inner_text()
    assert re.search(r"Count: \d+\s+Mean: \S+\s+StdDev: \S+\s+Median: \S+", stats)
    last_cumulative = windows.nth(2).locator("table.histogram tbody tr").last.locator("td").nth(4).inner_text()
    assert last_cumulative == "100.00%"

    # The event logs.
    page.goto(base + "/debug/events")
    conn = page.locator('#event-summary tr[data-family="websocket.Conn"]')
    assert conn.count() == 1
    conn.locator("td.bucket a").first.click()
    page.wait_for_selector("#event-logs tbody.trace")
    assert "/ws/mouse" in page.locator("#event-logs").inner_text()
    assert "accepted" in page.locator("#event-logs").inner_text()

    # The stored-trace admin (filters, search, detail with events).
    page.goto(base + "/admin/realtime/tracerecord/?family=websocket.Receive&latency=0&q=/ws/mouse")
    page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first.click()
    page.wait_for_selector("#trace-events")
    assert "text," in page.locator("#trace-events").inner_text()


def test_live_view_changes_while_a_client_sends(server, server_database, page):
    """The summary and list update over the staff socket without a reload:
    a marker set on the page's window survives, the Total of
    websocket.Receive grows and the newest message appears in the list."""
    send_mouse_events(server, 1)
    wait_for_rows(server_database, "SELECT id FROM realtime_tracerecord WHERE family = 'websocket.Receive'")
    # Allowed to see message previews: the probe below is in one.
    username, password = make_user(server_database, staff=True, sensitive=True)
    base = server.http_url
    page.goto(base + "/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(base + "/admin/")
    page.goto(base + "/debug/requests?fam=websocket.Receive&b=0&exp=1")
    page.wait_for_function("document.getElementById('live-status').textContent.startsWith('live: updated')")
    page.evaluate("window.notReloaded = true")
    total = page.locator('#trace-summary tr[data-family="websocket.Receive"] td.total')
    before = int(total.inner_text())
    probe = 900000 + int(uuid.uuid4().int % 99999)
    send_mouse_events(server, 5, y=probe)
    page.wait_for_function(
        "([selector, before]) => parseInt(document.querySelector(selector).textContent) >= before + 5",
        arg=['#trace-summary tr[data-family="websocket.Receive"] td.total', before],
        timeout=10000,
    )
    page.wait_for_function(f"document.getElementById('trace-list').textContent.includes('{probe}')", timeout=10000)
    assert page.evaluate("window.notReloaded") is True


@pytest.mark.django_db
def test_sensitive_events_are_redacted_for_staff_without_the_permission(client, django_user_model):
    """An event logged with sensitive=True is stored, but shown as
    [redacted] to a staff member without realtime.view_sensitive_events;
    a superuser (or a holder of the permission) sees it."""
    from django.contrib.auth.models import Permission

    from realtime import tracing

    recorder = tracing.Recorder({**tracing.load_config(), "keep": 10})
    trace = tracing.Trace(recorder, "fam.sensitive", "/probe")
    trace.log("public part %d", 1)
    trace.log("user's address %s", "221B Baker Street", sensitive=True)
    trace.finish()
    recorder.flush(publish=False)

    staff = django_user_model.objects.create_user("plainstaff", password="x", is_staff=True)
    client.force_login(staff)
    page = client.get("/debug/requests?fam=fam.sensitive&exp=1").content.decode()
    assert "public part 1" in page
    assert "[redacted]" in page and "221B Baker Street" not in page

    staff.user_permissions.add(Permission.objects.get(codename="view_sensitive_events"))
    staff = django_user_model.objects.get(pk=staff.pk)  # fresh permission cache
    client.force_login(staff)
    page = client.get("/debug/requests?fam=fam.sensitive&exp=1").content.decode()
    assert "221B Baker Street" in page


def test_a_hostile_latency_filter_is_ignored_not_a_server_error(server, server_database):
    """Tried, as staff: the stored-trace list with latency filters that are
    not a bucket (5,000 digits, which int() refuses; a superscript digit;
    a bucket past the last; letters). Each page is served (200) and lists
    the traces unfiltered; a real bucket still filters."""
    send_mouse_events(server, 2)
    wait_for_rows(server_database, "SELECT * FROM realtime_tracerecord WHERE family = 'websocket.Receive'")
    staff_name, staff_password = make_user(server_database, staff=True)
    staff = Browser(server.http_url)
    staff.admin_login(staff_name, staff_password)
    for hostile in ("9" * 5000, "\u00b2", "99", "abc", "-1"):
        status, _, page = staff.get("/admin/realtime/tracerecord/?" + urllib.parse.urlencode({"latency": hostile}))
        assert status == 200, (hostile[:10], status)
        assert 'id="result_list"' in page, hostile[:10]  # the traces, unfiltered
    status, _, page = staff.get("/admin/realtime/tracerecord/?latency=7")  # the ≥100s bucket: none there
    assert status == 200 and 'id="result_list"' not in page
