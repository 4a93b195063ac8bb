"""Sign up, log in, log out at /accounts/...: Django's auth with CSRF-protected
forms and the password validators on. The client enforces CSRF checks as a
browser's requests would meet them."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

STRONG = "plum-harbour-47-lantern"


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def csrf_token(client, url):
    page = client.get(url)
    assert page.status_code == 200
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def signup(client, username, password, password2=None, next_url=None):
    data = {
        "csrfmiddlewaretoken": csrf_token(client, "/accounts/signup/"),
        "username": username,
        "password1": password,
        "password2": password if password2 is None else password2,
    }
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/signup/", data)


def logged_in_as(client):
    user = client.get("/chat/lobby/").context["user"]
    return user.username if user.is_authenticated else None


def test_signup_creates_the_account_logs_in_and_goes_on(client):
    response = signup(client, "carol", STRONG, next_url="/chat/lobby/")
    assert response.status_code == 302 and response["Location"] == "/chat/lobby/"
    assert User.objects.get(username="carol").check_password(STRONG)
    assert logged_in_as(client) == "carol"


@pytest.mark.parametrize(
    "password, complaint",
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83749261038", "entirely numeric"),
        ("carol_x1", "too similar to the username"),
    ],
)
def test_signup_refuses_weak_passwords_with_the_validators_message(client, password, complaint):
    response = signup(client, "carol", password)
    assert response.status_code == 200
    assert complaint in response.content.decode()
    assert not User.objects.filter(username="carol").exists()
    assert logged_in_as(client) is None


def test_signup_refuses_mismatched_passwords_and_taken_names(client):
    assert "didn’t match" in signup(client, "dave", STRONG, STRONG + "x").content.decode()
    User.objects.create_user("erin", password=STRONG)
    assert "already exists" in signup(client, "erin", STRONG).content.decode()
    assert User.objects.filter(username__in=["dave", "erin"]).count() == 1


def test_signup_and_login_without_a_csrf_token_are_refused(client):
    """A cross-site form post (no token) must not create or log in accounts."""
    response = client.post("/accounts/signup/", {"username": "mallory", "password1": STRONG, "password2": STRONG})
    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()
    User.objects.create_user("frank", password=STRONG)
    response = client.post("/accounts/login/", {"username": "frank", "password": STRONG})
    assert response.status_code == 403
    assert logged_in_as(client) is None


def test_login_with_the_right_password_and_refusal_with_a_wrong_one(client):
    User.objects.create_user("grace", password=STRONG)
    token = csrf_token(client, "/accounts/login/")
    wrong = client.post("/accounts/login/", {"csrfmiddlewaretoken": token, "username": "grace", "password": "nope"})
    assert wrong.status_code == 200 and "enter a correct username and password" in wrong.content.decode()
    assert logged_in_as(client) is None
    token = csrf_token(client, "/accounts/login/")
    right = client.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": "grace", "password": STRONG, "next": "/chat/general/"},
    )
    assert right.status_code == 302 and right["Location"] == "/chat/general/"
    assert logged_in_as(client) == "grace"


def test_login_never_redirects_off_site(client):
    User.objects.create_user("heidi", password=STRONG)
    token = csrf_token(client, "/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": "heidi", "password": STRONG, "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    client.logout()
    response = signup(client, "ivan", STRONG, next_url="//evil.example/x")
    assert response["Location"] == "/"


def test_logout_is_a_post_with_csrf_and_a_get_does_not_log_out(client):
    User.objects.create_user("judy", password=STRONG)
    client.force_login(User.objects.get(username="judy"))
    assert client.get("/accounts/logout/").status_code == 405  # a link or <img> cannot log you out
    assert client.post("/accounts/logout/").status_code == 403  # nor can a foreign form
    assert logged_in_as(client) == "judy"
    page = client.get("/chat/lobby/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token, "next": "/chat/lobby/"})
    assert response.status_code == 302 and response["Location"] == "/chat/lobby/"
    assert logged_in_as(client) is None


def test_chat_page_offers_login_to_guests_and_posting_to_members(client):
    guest = client.get("/chat/lobby/").content.decode()
    assert 'id="login-to-post"' in guest and 'id="post-form"' not in guest
    User.objects.create_user("kim", password=STRONG)
    client.force_login(User.objects.get(username="kim"))
    member = client.get("/chat/lobby/").content.decode()
    assert 'id="post-form"' in member and "Signed in as" in member and "kim" in member


def test_rooms_are_created_on_first_visit_and_bad_names_are_not_found(client):
    from realtime.models import Room

    assert client.get("/chat/new-room_1/").status_code == 200
    assert Room.objects.filter(name="new-room_1").exists()
    assert client.get("/chat/bad%20name/").status_code == 404
    assert client.get("/chat/" + "x" * 65 + "/").status_code == 404


def test_rooms_and_messages_are_in_the_admin(client):
    from realtime.models import Message, Room

    admin = User.objects.create_superuser("root", password=STRONG)
    room = Room.objects.create(name="adminroom")
    Message.objects.create(room=room, author=admin, text="visible in admin")
    client.force_login(admin)
    assert "adminroom" in client.get("/admin/realtime/room/").content.decode()
    assert "visible in admin" in client.get("/admin/realtime/message/").content.decode()
