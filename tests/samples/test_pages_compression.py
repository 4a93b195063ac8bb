"""The demo pages in real headless Chromium against a real server: the
browser's own sockets negotiate permessage-deflate with the server's bounded
parameters, and the pages work over them."""

from playwright.sync_api import expect

CHROME_OFFER = "permessage-deflate; client_max_window_bits"
CHOSEN = (
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "server_max_window_bits=12; client_max_window_bits=12"
)


def watch_handshakes(page):
    """Every WebSocket handshake the page makes, from Chromium's DevTools
    protocol: {url: (request headers, response headers)}."""
    session = page.context.new_cdp_session(page)
    urls, handshakes = {}, {}

    def created(event):
        urls[event["requestId"]] = event["url"]

    def responded(event):
        response = event["response"]
        lower = lambda headers: {k.lower(): v for k, v in (headers or {}).items()}  # noqa: E731
        handshakes[urls.get(event["requestId"], event["requestId"])] = (
            lower(response.get("requestHeaders")),
            lower(response.get("headers")),
            response.get("status"),
        )

    session.on("Network.webSocketCreated", created)
    session.on("Network.webSocketHandshakeResponseReceived", responded)
    session.send("Network.enable")
    return handshakes


def assert_compressed(handshakes, url):
    assert url in handshakes, f"no handshake seen for {url}; seen: {list(handshakes)}"
    request, response, status = handshakes[url]
    assert status == 101
    assert request.get("sec-websocket-extensions") == CHROME_OFFER, request
    assert response.get("sec-websocket-extensions") == CHOSEN, response


def test_mouse_page_sockets_negotiate_compression_and_work(daphne, page):
    """Tried: /mouse/ in Chromium. Both its sockets (/ws/mouse, /ws/time)
    offer Chrome's permessage-deflate and get the server's parameters; a
    mouse move comes back as coordinates on the page and a tick shows."""
    server = daphne()
    handshakes = watch_handshakes(page)
    page.goto(server.http_url + "/mouse/")
    for status in ("#mouse-status", "#time-status"):
        expect(page.locator(status)).to_have_attribute("data-state", "connected", timeout=5000)
    assert_compressed(handshakes, f"{server.ws_url}/ws/mouse")
    assert_compressed(handshakes, f"{server.ws_url}/ws/time")

    box = page.locator("#box").bounding_box()
    border = page.locator("#box").evaluate("box => box.clientLeft")
    page.mouse.move(box["x"] + 50, box["y"] + 30)
    expect(page.locator("#coords")).to_have_text(f"x: {round(50 - border)}, y: {round(30 - border)}", timeout=3000)
    expect(page.locator("#ticker")).to_contain_text("UTC", timeout=2500)


def test_echo_page_socket_negotiates_compression_and_round_trips(daphne, page):
    """Tried: /echo/ in Chromium, sending a short message and a 600-character
    one (large enough that the server compresses its answer, and Chromium
    compresses what it sends). Both answers show in the page's log."""
    server = daphne()
    handshakes = watch_handshakes(page)
    page.goto(server.http_url + "/echo/")
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=5000)
    assert_compressed(handshakes, f"{server.ws_url}/ws/received")

    page.click("#send")
    expect(page.locator("#log .log-onmessage")).to_have_text(["onmessageReceived: Hello, world!"], timeout=3000)
    long_text = "compress me, " * 46 + "end"
    page.fill("#message", long_text)
    page.press("#message", "Enter")
    expect(page.locator("#log .log-onmessage").last).to_have_text(f"onmessageReceived: {long_text}", timeout=3000)
