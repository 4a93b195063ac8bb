"""Fixtures of the in-process chat tests (test_chat.py, test_chat_stream.py;
tests/chat/test_chat_postgres.py runs both again on PostgreSQL)."""

import uuid

import pytest
from django.contrib.auth.models import User

from tests.support.chat import session_cookie


@pytest.fixture
def room():
    return f"room-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def alice():
    user = User.objects.create_user("alice", password="a-long-passphrase-1")
    return session_cookie(user)


@pytest.fixture
def bob():
    user = User.objects.create_user("bob", password="a-long-passphrase-2")
    return session_cookie(user)


@pytest.fixture
def staff():
    user = User.objects.create_user("moderator", password="a-long-passphrase-3", is_staff=True)
    return session_cookie(user)
