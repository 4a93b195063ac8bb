"""Password guessing against real servers: failed logins are counted in
the database (django-axes), so the limit holds across processes. After
ACCOUNTS_LOGIN_FAILURE_LIMIT failures from one client address, or on one
account from anywhere, that client (or account) is refused with HTTP 429
and a page that says why and how to get back in, even with the right
password; everyone else logs in as usual, and the pause ends by itself.

Different clients are different loopback addresses (127.x.y.z), which the
server sees as the TCP peer, as it would see different people."""

import time

from tests.support.chat import PASSWORD, http_signup, loopback_address, unique
from tests.support.visitors import Visitor


def assert_logged_in(result):
    status, location, body = result
    assert status == 302 and location == "/", (status, location, body[:300])


def assert_locked_out(result, username=None):
    status, _, body = result
    assert status == 429, (status, body[:500])
    assert "Too many failed logins" in body and "Try again in 15 minutes" in body, body
    assert "changepassword" in body  # the way back for a forgotten password
    if username:
        assert username in body


def test_failed_logins_from_one_client_lock_out_that_client_on_every_process(daphne):
    """Tried: one client guesses passwords for five different made-up
    accounts, alternating between two server processes; then tries a real
    account with its right password, then again with X-Forwarded-For set to
    another address (the servers run without --proxy-headers)."""
    server_a, server_b = daphne(), daphne()
    member = unique("member")
    http_signup(server_a, member)
    guesser = Visitor(server_a)
    for attempt in range(4):
        guesser.server = (server_a, server_b)[attempt % 2]
        status, _, body = guesser.login(unique("nobody"), "wrong-password")
        assert status == 200 and "enter a correct username and password" in body, (attempt, status)
    # The fifth failure is answered with the lockout already.
    assert_locked_out(guesser.login(unique("nobody"), "wrong-password"))
    for server in (server_a, server_b):
        guesser.server = server
        assert_locked_out(guesser.login(member, PASSWORD))
        assert_locked_out(guesser.login(member, PASSWORD, **{"X-Forwarded-For": loopback_address()}))
    # The member, from their own address, is not affected.
    assert_logged_in(Visitor(server_b).login(member, PASSWORD))


def test_failed_logins_on_one_account_lock_that_account_from_anywhere(daphne):
    """Tried: five clients each guess the password of one account once
    (staying under any per-client count), on two processes; then the owner
    logs in with the right password from a fresh address, on the site's
    login and on the admin's. Another account from that address works."""
    server_a, server_b = daphne(), daphne()
    victim, bystander = unique("victim"), unique("bystander")
    http_signup(server_a, victim)
    http_signup(server_a, bystander)
    for attempt in range(5):
        status, _, _ = Visitor((server_a, server_b)[attempt % 2]).login(victim, f"guess-{attempt}")
        assert status == (429 if attempt == 4 else 200), (attempt, status)
    owner = Visitor(server_b)
    assert_locked_out(owner.login(victim, PASSWORD), victim)
    assert_locked_out(owner.login(victim, PASSWORD, path="/admin/login/"), victim)
    assert_logged_in(owner.login(bystander, PASSWORD))


def test_a_lockout_ends_by_itself_after_the_cool_off(daphne):
    """Tried: lock an account with five failures, wait out a cool-off
    shortened to 3 seconds (ACCOUNTS_LOCKOUT_MINUTES=0.05), then log in with
    the right password: the real user gets back in without any help."""
    server = daphne(ACCOUNTS_LOCKOUT_MINUTES="0.05")
    owner = unique("owner")
    http_signup(server, owner)
    for attempt in range(5):
        Visitor(server).login(owner, f"guess-{attempt}")
    status, _, body = Visitor(server).login(owner, PASSWORD)
    assert status == 429 and "Try again in 1 minute" in body
    time.sleep(3.5)
    assert_logged_in(Visitor(server).login(owner, PASSWORD))


def test_failures_below_the_limit_are_forgotten_after_a_successful_login(daphne):
    """Tried: the real user mistypes four times, logs in, mistypes four more
    times: never locked out (a success clears the count)."""
    server = daphne()
    owner = unique("typo")
    http_signup(server, owner)
    user = Visitor(server)
    for _ in range(2):
        for attempt in range(4):
            assert user.login(owner, f"typo-{attempt}")[0] == 200
        assert_logged_in(user.login(owner, PASSWORD))
        user.cookies.clear()
