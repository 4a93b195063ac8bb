"""Account farming against real servers: new accounts are limited per
client address (ACCOUNTS_SIGNUP_RATE_COUNT per ACCOUNTS_SIGNUP_RATE_SECONDS),
counted in the database, so across processes. The refused signup says why
and when to come back, keeps what was typed, and creates nothing."""

import sqlite3

from tests.support.chat import PASSWORD, http_signup, loopback_address, unique
from tests.support.visitors import Visitor


def signup(visitor, username):
    token = visitor.form_token("/accounts/signup/")
    return visitor.request(
        "POST",
        "/accounts/signup/",
        {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


def user_exists(database_url, username):
    with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=10) as db:
        return db.execute("SELECT count(*) FROM auth_user WHERE username = ?", (username,)).fetchone()[0] == 1


def test_one_client_cannot_make_more_than_the_limit_of_accounts(daphne, server_database):
    """Tried: one client signs up four accounts in a row, alternating between
    two server processes, with a limit of three an hour; then the fourth
    again from another address."""
    env = {"ACCOUNTS_SIGNUP_RATE_COUNT": 3}
    server_a, server_b = daphne(**env), daphne(**env)
    farmer = Visitor(server_a)
    made = []
    for n in range(3):
        farmer.server = (server_a, server_b)[n % 2]
        farmer.cookies.clear()
        name = unique(f"farm{n}")
        status, location, body = signup(farmer, name)
        assert status == 302, (n, status, body[:500])
        made.append(name)
    farmer.server = server_b
    farmer.cookies.clear()
    refused = unique("farm3")
    status, _, body = signup(farmer, refused)
    assert status == 429, (status, body[:500])
    assert "Too many new accounts were made from your network recently" in body
    assert "at most 3 every 60 minutes" in body and "try again in" in body.lower()
    assert f'value="{refused}"' in body, "the username typed is lost"
    assert not user_exists(server_database, refused)
    assert all(user_exists(server_database, name) for name in made)
    # Someone else, elsewhere, signs up as usual.
    http_signup(server_a, refused, address=loopback_address())
    assert user_exists(server_database, refused)
