"""Each page's first screen in real headless Chromium, signed out and signed
in: what a visitor sees before scrolling. The nav names the pages (Chat
among them) and who is signed in (or the way to sign in), the one
stylesheet is applied (header, forms, buttons), no request of the page ends
in a 4xx/5xx (the icon included) and the console has no error; the index's
commands are shown whole (wrapped, never cut). A screenshot of each screen
is kept in reports/screenshots/ (gitignored) to look at."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.paths import ROOT
from tests.support.trace_db import make_user

SCREENSHOTS = ROOT / "reports" / "screenshots"
PAGES = {
    "index": "/",
    "mouse": "/mouse/",
    "echo": "/echo/",
    "chat": "/chat/lobby/",
    "login": "/accounts/login/",
    "signup": "/accounts/signup/",
}
ACCENT = "rgb(11, 107, 203)"  # --accent in static/realtime/style.css
PAPER = "rgb(246, 248, 250)"  # --paper: the header's background
VIEWPORT = {"width": 1280, "height": 800}


class Watch:
    """Every failed response and console error of a page, as lines."""

    def __init__(self, page):
        self.problems = []
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))


def look_at(page, base, name, path, state):
    watch = Watch(page)
    page.goto(base + path)
    page.wait_for_load_state("load")
    if name in {"mouse", "echo", "chat"}:  # their socket is up: the screen is what a user sees
        page.wait_for_function(
            "(s => s.length > 0 && s.every(e => e.dataset.state === 'connected'))"
            "([...document.querySelectorAll('.status[data-state]')])"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{state}-{name}.png"))

    header = page.locator("header.site")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == PAPER, f"{path}: stylesheet not applied"
    nav = header.locator("nav")
    expect(nav.get_by_role("link", name="Chat")).to_have_attribute("href", "/chat/lobby/")
    expect(nav.get_by_role("link", name="Echo")).to_be_visible()
    for button in page.locator("main button:visible").all():
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") == ACCENT, f"{path}: unstyled button"
    for field in page.locator("main input[type=text]:visible, main input[type=password]:visible").all():
        assert field.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid", f"{path}: unstyled field"
    # The icon: linked, and /favicon.ico (which browsers ask for anyway) answers.
    icon = page.locator("link[rel=icon]").get_attribute("href")
    for url in (icon, "/favicon.ico"):
        response = page.request.get(base + url)
        assert response.status == 200 and response.headers["content-type"].startswith("image/"), (url, response)
    assert not watch.problems, f"{path} ({state}): {watch.problems}"
    return header


@pytest.fixture
def server(daphne):
    return daphne()


@pytest.mark.slow
def test_first_screens_signed_out(server, browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10000)
    page = context.new_page()
    try:
        for name, path in PAGES.items():
            header = look_at(page, server.http_url, name, path, "signed-out")
            account = header.locator("#account-status")
            expect(account.get_by_role("link", name="Log in")).to_be_visible()
            expect(account.get_by_role("link", name="Sign up")).to_be_visible()
            expect(account).not_to_contain_text("Signed in")
        # The index shows every command whole: nothing hidden past a
        # scrollbar (the longest, /ws/person/xml's, ends with --xml).
        page.goto(server.http_url + "/")
        xml = page.locator("pre", has_text="/ws/person/xml --name")
        expect(xml).to_contain_text("--xml")
        cut = page.evaluate(
            "[...document.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth)"
            ".map(p => p.textContent.slice(0, 60))"
        )
        assert cut == [], f"commands cut on the index: {cut}"
        box = xml.bounding_box()
        assert box["x"] + box["width"] <= VIEWPORT["width"]
    finally:
        context.close()


@pytest.mark.slow
def test_first_screens_signed_in(server, server_database, browser):
    username, password = make_user(server_database, staff=False)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10000)
    page = context.new_page()
    try:
        page.goto(server.http_url + "/accounts/login/?next=/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("main button[type=submit]")
        expect(page).to_have_url(server.http_url + "/")
        for name, path in PAGES.items():
            header = look_at(page, server.http_url, name, path, "signed-in")
            account = header.locator("#account-status")
            expect(account).to_contain_text(re.compile(rf"Signed in as\s+{re.escape(username)}"))
            expect(account.get_by_role("button", name="Log out")).to_be_visible()
            expect(account.get_by_role("link", name="Log in")).to_have_count(0)
            if name == "chat":  # the box to write in is on the first screen
                box = page.locator("#send").bounding_box()
                assert box["y"] + box["height"] <= VIEWPORT["height"], box
        # Log out from the header, on any page.
        page.goto(server.http_url + "/echo/")
        page.locator("#account-status").get_by_role("button", name="Log out").click()
        expect(page.locator("#account-status").get_by_role("link", name="Log in")).to_be_visible()
    finally:
        context.close()
