"""The chat page /chat/<room>/ in real headless Chromium against real Daphne
subprocesses: two users on two processes sharing Redis, infinite scroll,
markup shown as text, reconnecting after the server died, a page that
stayed connected through a Redis restart, and a post refused by an error
frame."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from tests.support.chat import PASSWORD, ChatClient, http_signup, seed_messages, unique
from tests.support.redis_servers import OwnRedis


def sign_up(page, server, username, room):
    """The real signup form, then on to the room."""
    page.goto(f"{server.http_url}/accounts/signup/?next=/chat/{room}/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.http_url}/chat/{room}/")
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")


def message_row(page, text):
    return page.locator("#messages .message", has=page.locator(".text", has_text=text))


def by_id(page, text):
    """The row of the message showing `text`, located by its id, so it stays
    found while its text is swapped for the edit box."""
    return page.locator("#" + message_row(page, text).get_attribute("id"))


def new_context(browser):
    context = browser.new_context()
    context.set_default_timeout(10000)
    return context


def post(page, text):
    page.fill("#text", text)
    page.press("#text", "Enter")
    # Cleared only once the server acknowledged (stored) it.
    expect(page.locator("#text")).to_have_value("")


def test_two_users_on_two_processes_see_each_others_posts_edits_and_deletions(
    daphne, redis_url, channel_prefix, browser
):
    env = {"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": channel_prefix, "CHAT_PRESENCE_REFRESH_SECONDS": 1}
    server_a, server_b = daphne(**env), daphne(**env)
    room, alice_name, bob_name = unique("room"), unique("alice"), unique("bob")
    alice_context, bob_context = new_context(browser), new_context(browser)
    try:
        alice, bob = alice_context.new_page(), bob_context.new_page()
        sign_up(alice, server_a, alice_name, room)
        sign_up(bob, server_b, bob_name, room)
        # Presence crosses processes.
        expect(bob.locator("#presence")).to_contain_text(alice_name)
        expect(alice.locator("#presence")).to_contain_text(bob_name)

        post(alice, "hello from process A")
        on_bob = message_row(bob, "hello from process A")
        expect(on_bob).to_be_visible()
        expect(on_bob.locator(".author")).to_have_text(alice_name)
        # Bob may not change alice's message: no buttons for him.
        expect(on_bob.locator("button")).to_have_count(0)

        mine = by_id(alice, "hello from process A")
        mine.locator("button.edit").click()
        mine.locator(".edit-text").fill("hello, edited on A")
        mine.locator("button.save").click()
        edited = message_row(bob, "hello, edited on A")
        expect(edited).to_be_visible()
        expect(edited.locator(".edited")).to_have_text("(edited)")
        expect(message_row(bob, "hello from process A")).to_have_count(0)

        alice.once("dialog", lambda dialog: dialog.accept())
        message_row(alice, "hello, edited on A").locator("button.delete").click()
        expect(bob.locator("#messages .text.deleted")).to_have_text("message deleted")
        expect(bob.locator("#messages")).not_to_contain_text("hello, edited on A")
        expect(bob.locator("#messages .message")).to_have_count(1)

        # Bob leaves: alice sees him go.
        bob_context.close()
        expect(alice.locator("#presence")).not_to_contain_text(bob_name)
    finally:
        alice_context.close()
        if bob_context.pages:
            bob_context.close()


def test_infinite_scroll_reaches_the_first_of_200_messages_without_gaps_or_repeats(daphne, server_database, browser):
    """A guest scrolls up through 200 stored messages while a member posts
    between the pages; every message appears exactly once, in order."""
    server = daphne(CHAT_POST_RATE_COUNT=0)
    room = unique("scroll")
    ids = seed_messages(server_database, room, 200, unique("seeder"))
    guest_context, member_context = new_context(browser), new_context(browser)
    try:
        guest = guest_context.new_page()
        guest.goto(f"{server.http_url}/chat/{room}/")
        rows = guest.locator("#messages .message")
        expect(rows).to_have_count(50)
        expect(guest.locator("#login-to-post")).to_be_visible()  # guests read, not post
        member = member_context.new_page()
        sign_up(member, server, unique("member"), room)
        live = []
        while guest.locator("#beginning").is_hidden():
            count = rows.count()
            live.append(f"posted while scrolling {len(live)}")
            post(member, live[-1])
            expect(message_row(guest, live[-1])).to_be_visible()
            guest.locator("#scroller").evaluate("box => { box.scrollTop = 0; }")
            expect(rows).not_to_have_count(count + 1)
            assert len(live) < 10, "scrolling up never reached the beginning"
        shown = [int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
        texts = rows.locator(".text").all_text_contents()
        assert shown[:200] == ids
        assert texts == [f"m{i}" for i in range(200)] + live
        assert len(set(shown)) == len(shown) == 200 + len(live)
    finally:
        guest_context.close()
        member_context.close()


def test_markup_in_a_message_is_shown_as_text_and_never_runs(daphne, browser):
    server = daphne()
    room = unique("xss")
    hostile = (
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
        '<b>bold</b> <a href="javascript:window.pwned=3">link</a>'
    )
    writer_context, reader_context = new_context(browser), new_context(browser)
    try:
        writer, reader = writer_context.new_page(), reader_context.new_page()
        dialogs = []
        reader.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        sign_up(writer, server, unique("writer"), room)
        reader.goto(f"{server.http_url}/chat/{room}/")
        expect(reader.locator("#status")).to_have_attribute("data-state", "connected")
        post(writer, hostile)
        text = reader.locator("#messages .message .text")
        expect(text).to_have_text(hostile)
        assert reader.locator("#messages img, #messages script, #messages b, #messages a").count() == 0
        # Also when it comes from the history instead of the live broadcast.
        reader.reload()
        expect(text).to_have_text(hostile)
        assert reader.locator("#messages img, #messages script, #messages b, #messages a").count() == 0
        assert reader.evaluate("window.pwned") is None and writer.evaluate("window.pwned") is None
        assert dialogs == []
    finally:
        writer_context.close()
        reader_context.close()


def test_the_page_reconnects_after_its_server_died_and_shows_what_it_missed(daphne, redis_url, channel_prefix, browser):
    env = {"REDIS_URL": redis_url, "CHANNEL_LAYER_PREFIX": channel_prefix}
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("reconnect")
    alice_context, bob_context = new_context(browser), new_context(browser)
    try:
        alice, bob = alice_context.new_page(), bob_context.new_page()
        sign_up(alice, server_a, unique("alice"), room)
        sign_up(bob, server_b, unique("bob"), room)
        post(alice, "before the crash")
        expect(message_row(bob, "before the crash")).to_be_visible()

        server_b.kill()
        expect(bob.locator("#status")).to_have_attribute("data-state", "reconnecting")
        expect(bob.locator("#status")).to_contain_text("reconnecting")
        # While bob's server is down: new messages, an edit and a deletion.
        post(alice, "while you were away 1")
        post(alice, "while you were away 2")
        row = by_id(alice, "before the crash")
        row.locator("button.edit").click()
        row.locator(".edit-text").fill("before the crash, edited")
        row.locator("button.save").click()
        expect(message_row(alice, "before the crash, edited")).to_be_visible()
        alice.once("dialog", lambda dialog: dialog.accept())
        message_row(alice, "while you were away 1").locator("button.delete").click()
        expect(alice.locator("#messages .text.deleted")).to_have_count(1)

        daphne(port=server_b.port, **env)
        expect(bob.locator("#status")).to_have_attribute("data-state", "connected", timeout=10000)
        texts = bob.locator("#messages .message .text")
        expect(texts).to_have_text(["before the crash, edited", "message deleted", "while you were away 2"])
        expect(bob.locator("#messages .message").nth(0).locator(".edited")).to_be_visible()
    finally:
        alice_context.close()
        bob_context.close()


def test_a_page_that_stayed_connected_while_redis_restarted_shows_every_post_without_reload(
    daphne, channel_prefix, browser, tmp_path
):
    """Redis restarted under two processes: posts acknowledged meanwhile (by a
    client on the other process) were never delivered to bob's page, which
    stayed connected throughout. It is told to resync and shows them all,
    once, in order, without a reload."""
    redis = OwnRedis(tmp_path)
    redis.start()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CHANNEL_LAYER_PREFIX": channel_prefix,
        "CHAT_POST_RATE_COUNT": 0,
    }
    server_a, server_b = daphne(**env), daphne(**env)
    room = unique("pubsub")
    bob_context = new_context(browser)
    try:
        bob = bob_context.new_page()
        sign_up(bob, server_b, unique("bob"), room)
        bob.evaluate("window.sameDocument = true")
        alice = http_signup(server_a, unique("alice"))

        async def post_through_an_outage():
            async with ChatClient(server_a, room, alice) as poster:
                for n, text in enumerate(["before", "during 1", "during 2", "during 3"]):
                    if n == 1:
                        redis.stop()
                    await poster.send(action="post", text=text, client_id=f"c{n}")
                    await poster.expect("ack", timeout=10)
                redis.start()

        # Playwright's sync API holds this thread's event loop: the poster runs in another.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, post_through_an_outage()).result(60)
        texts = bob.locator("#messages .message .text")
        expect(texts).to_have_text(["before", "during 1", "during 2", "during 3"], timeout=15000)
        assert bob.evaluate("window.sameDocument") is True
        expect(bob.locator("#status")).to_have_attribute("data-state", "connected")
    finally:
        bob_context.close()
        redis.stop()


def test_a_post_refused_by_an_error_frame_is_no_longer_pending_and_can_be_sent_again(daphne, browser):
    """At most one post a minute: the second is answered by rate_limited. The
    page says so, keeps the text, and lets the user send again (the server
    answers again: the page did not wait for an ack that never comes)."""
    server = daphne(CHAT_POST_RATE_COUNT=1, CHAT_POST_RATE_SECONDS=60)
    room = unique("refused")
    context = new_context(browser)
    try:
        page = context.new_page()
        sign_up(page, server, unique("carol"), room)
        post(page, "the one allowed")
        page.fill("#text", "one too many")
        page.press("#text", "Enter")
        expect(page.locator("#error")).to_contain_text("rate_limited")
        expect(page.locator("#text")).to_have_value("one too many")
        expect(page.locator("#text")).not_to_have_attribute("readonly", "")
        page.evaluate("document.getElementById('error').textContent = ''")
        page.press("#text", "Enter")  # sent again, not swallowed as "pending"
        expect(page.locator("#error")).to_contain_text("rate_limited")
        expect(page.locator("#messages .message")).to_have_count(1)
    finally:
        context.close()
