"""The pages `/`, `/mouse/` and `/echo/` in real headless Chromium (Playwright
driving Debian's /usr/bin/chromium) against a real Daphne subprocess: what a
person sees when they move the mouse, press Send, or when the server goes away
and comes back."""

import re
import urllib.request
from html.parser import HTMLParser

from playwright.sync_api import expect

RFC1123_UTC = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} UTC$")
SOCKET_PATHS = [
    "/ws/echo",
    "/ws/mouse",
    "/wsecho",
    "/ws/time",
    "/wstime",
    "/ws/received",
    "/ws/hello",
    "/ws/person",
    "/ws/person/xml",
]


class LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.assets = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "link" and attrs.get("href"):
            self.assets.append(attrs["href"])
        elif tag == "script" and attrs.get("src"):
            self.assets.append(attrs["src"])


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def collect(html):
    collector = LinkCollector()
    collector.feed(html)
    return collector


def open_connected(page, url, *status_selectors):
    page.goto(url)
    for selector in status_selectors:
        expect(page.locator(selector)).to_have_attribute("data-state", "connected", timeout=5000)


def echoed_coordinates(page):
    text = page.locator("#coords").text_content()
    match = re.fullmatch(r"x: (\d+), y: (\d+)", text)
    assert match, f"coordinates not shown, the page says {text!r}"
    return int(match.group(1)), int(match.group(2))


def move_over_box(page, dx, dy):
    """Moves the real mouse to (dx, dy) from the box's outer corner and waits
    until the server's echo of that position is on the page."""
    box = page.locator("#box").bounding_box()
    border = page.locator("#box").evaluate("box => box.clientLeft")
    page.mouse.move(box["x"] + dx, box["y"] + dy)
    expected = (round(dx - border), round(dy - border))
    expect(page.locator("#coords")).to_have_text(f"x: {expected[0]}, y: {expected[1]}", timeout=3000)
    return expected


def test_index_links_every_page_and_socket_and_each_link_resolves(daphne):
    server = daphne()
    status, html = fetch(server.http_url + "/")
    assert status == 200
    page = collect(html)
    assert "/mouse/" in page.links and "/echo/" in page.links
    for path in SOCKET_PATHS:
        assert f"{path}</code>" in html or f"{path} " in html, f"the index does not describe {path}"
    # Every link and asset on this server answers (external links are not fetched:
    # the test machine has no network beyond loopback).
    local = [href for href in page.links + page.assets if href.startswith("/")]
    for href in local:
        status, body = fetch(server.http_url + href)
        assert status == 200, href
        for asset in collect(body).assets:  # each page's own CSS and scripts too
            assert fetch(server.http_url + asset)[0] == 200, asset


def test_mouse_move_over_the_box_shows_the_echoed_coordinates(daphne, page):
    server = daphne()
    open_connected(page, server.http_url + "/mouse/", "#mouse-status")
    first = move_over_box(page, 40, 25)
    second = move_over_box(page, 200, 130)
    assert first != second
    assert echoed_coordinates(page) == second
    assert page.locator("#dot").is_visible()

    # A bad message (a string where an int belongs, sent from the console the
    # page exposes) gets the server's error frame shown; the socket stays up.
    page.evaluate("""realtimeSockets.mouse.send('{"x": "a", "y": 1}')""")
    expect(page.locator("#mouse-error")).to_contain_text("server error invalid_type", timeout=3000)
    expect(page.locator("#mouse-status")).to_have_attribute("data-state", "connected")
    move_over_box(page, 60, 60)
    expect(page.locator("#mouse-error")).to_be_hidden()


def test_mouse_page_ticker_shows_the_pushed_time_and_changes(daphne, page):
    server = daphne()
    open_connected(page, server.http_url + "/mouse/", "#time-status")
    ticker = page.locator("#ticker")
    expect(ticker).to_have_text(RFC1123_UTC, timeout=2500)
    first = ticker.text_content()
    # Ticks come on every wall-clock second: a different value within 2.5 s.
    expect(ticker).not_to_have_text(first, timeout=2500)
    expect(ticker).to_have_text(RFC1123_UTC)


def test_echo_send_shows_received_and_logs_the_events(daphne, page):
    server = daphne()
    open_connected(page, server.http_url + "/echo/", "#status")
    expect(page.locator("#message")).to_have_value("Hello, world!")
    expect(page.locator("#log .log-onopen")).to_have_count(1)
    page.click("#send")
    expect(page.locator("#log .log-onmessage")).to_have_text(["onmessageReceived: Hello, world!"], timeout=3000)
    # Enter in the text field sends too.
    page.fill("#message", "second")
    page.press("#message", "Enter")
    expect(page.locator("#log .log-onmessage").last).to_have_text("onmessageReceived: second", timeout=3000)


def test_echo_shows_markup_as_literal_text(daphne, page):
    """A message with HTML in it (as another visitor could type) comes back
    from the server and is shown as text: no element is created, no script runs."""
    server = daphne()
    open_connected(page, server.http_url + "/echo/", "#status")
    hostile = '<b>bold</b><img src=x onerror="window.__injected = 1">'
    page.fill("#message", hostile)
    page.click("#send")
    expect(page.locator("#log .log-onmessage .text")).to_have_text(["Received: " + hostile], timeout=3000)
    assert page.locator("#log b, #log img").count() == 0
    assert page.evaluate("window.__injected") is None


def test_pages_say_when_the_server_is_gone_and_reconnect_when_it_is_back(daphne, page):
    """Stop the server under two open pages: each says it lost the connection
    and is reconnecting, the echo log shows onclose with a code, and Send says
    nothing was sent. Start a server on the same port: both pages reconnect by
    themselves and work again."""
    server = daphne()
    echo = page
    open_connected(echo, server.http_url + "/echo/", "#status")
    mouse = page.context.new_page()
    open_connected(mouse, server.http_url + "/mouse/", "#mouse-status", "#time-status")
    move_over_box(mouse, 30, 30)

    server.stop()
    expect(echo.locator("#status")).to_contain_text("reconnecting in", timeout=5000)
    expect(echo.locator("#log .log-onclose").first).to_have_text(re.compile(r"connection closed \(\d{4}"), timeout=5000)
    expect(mouse.locator("#mouse-status")).to_contain_text("connection lost", timeout=5000)
    expect(mouse.locator("#time-status")).to_contain_text("reconnecting in", timeout=5000)
    # The last tick stays on screen but greyed out, so nobody reads it as live.
    expect(mouse.locator("#ticker")).to_have_class(re.compile(r"\bstale\b"))
    echo.click("#send")
    expect(echo.locator("#log .log-not-sent")).to_have_count(1)

    daphne(port=server.port)
    # Backoff is capped at 4 s, so a client retries at least that often.
    expect(echo.locator("#status")).to_have_attribute("data-state", "connected", timeout=10000)
    expect(echo.locator("#log .log-onopen")).to_have_count(2)
    echo.click("#send")
    expect(echo.locator("#log .log-onmessage")).to_have_count(1, timeout=3000)
    expect(echo.locator("#log .log-onmessage")).to_have_text(["onmessageReceived: Hello, world!"])

    expect(mouse.locator("#mouse-status")).to_have_attribute("data-state", "connected", timeout=10000)
    expect(mouse.locator("#time-status")).to_have_attribute("data-state", "connected", timeout=10000)
    move_over_box(mouse, 90, 70)
    expect(mouse.locator("#ticker")).not_to_have_class(re.compile(r"\bstale\b"))
    before = mouse.locator("#ticker").text_content()
    expect(mouse.locator("#ticker")).not_to_have_text(before, timeout=2500)
