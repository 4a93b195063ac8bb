"""The chat's pages: a room, and the accounts that may post in it (sign up,
log in, log out: Django's auth views and forms, CSRF-protected,
AUTH_PASSWORD_VALIDATORS applied, with templates of this site).

Throttled: failed logins by django-axes (per client address and per
account, in the database; settings ACCOUNTS_LOGIN_FAILURE_LIMIT and
ACCOUNTS_LOCKOUT_MINUTES), new accounts per client address here
(ACCOUNTS_SIGNUP_RATE_COUNT per ACCOUNTS_SIGNUP_RATE_SECONDS)."""

import math

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from realtime.chat import rate_windows
from realtime.chat.models import Room

TOO_MANY_REQUESTS = 429
SIGNUP_KEY_PREFIX = "signup:"


def room(request, room):
    # Not stored: a room is stored with its first post, so page views (by
    # anyone, under any name) add no rows.
    room = Room(name=room)
    return render(
        request,
        "realtime/chat.html",
        {
            "room": room,
            "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        },
    )


# -- accounts ---------------------------------------------------------------------


def safe_next(request):
    """The ?next= target if it is on this site, else LOGIN_REDIRECT_URL (no
    open redirects)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


def client_address(request):
    """The client's address as the server knows it: the TCP peer, or behind
    nginx the address it forwarded (Daphne --proxy-headers puts it in the
    scope). Never a header the client set itself, which it could vary to
    escape a per-address limit. None when there is none (a login made in
    code, e.g. Django's test client's force_login)."""
    return request.META.get("REMOTE_ADDR") or None


def minutes_text(seconds):
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@require_http_methods(["GET", "POST"])
def signup(request):
    status = 200
    if request.method == "POST":
        form = UserCreationForm(request.POST)
        if form.is_valid():
            with transaction.atomic():
                wait = rate_windows.take(
                    SIGNUP_KEY_PREFIX + (client_address(request) or "unknown"),
                    settings.ACCOUNTS_SIGNUP_RATE_COUNT,
                    settings.ACCOUNTS_SIGNUP_RATE_SECONDS,
                )
                user = None if wait else form.save()
            rate_windows.forget_idle(SIGNUP_KEY_PREFIX, settings.ACCOUNTS_SIGNUP_RATE_SECONDS)
            if user is not None:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect(safe_next(request))
            # The form comes back filled in (but for the passwords, which
            # Django never sends back), so nothing typed is lost.
            form.add_error(
                None,
                (
                    f"Too many new accounts were made from your network recently "
                    f"(at most {settings.ACCOUNTS_SIGNUP_RATE_COUNT} every "
                    f"{minutes_text(settings.ACCOUNTS_SIGNUP_RATE_SECONDS)}). "
                    f"Please try again in {minutes_text(wait)}."
                ),
            )
            status = TOO_MANY_REQUESTS
    else:
        form = UserCreationForm()
    return render(request, "registration/signup.html", {"form": form, "next": safe_next(request)}, status=status)


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a login it refused (AXES_LOCKOUT_CALLABLE):
    HTTP 429 with a page that says why, for how long, and the ways back."""
    username = request.POST.get("username", "") if request.method == "POST" else ""
    return render(
        request,
        "registration/locked_out.html",
        {
            "username": username,
            "failure_limit": settings.ACCOUNTS_LOGIN_FAILURE_LIMIT,
            "wait": minutes_text(settings.ACCOUNTS_LOCKOUT_MINUTES * 60),
        },
        status=TOO_MANY_REQUESTS,
    )


class LoginView(auth_views.LoginView):
    # A logged-in visitor who opens the login page goes on to where they were headed.
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default since 5.0): a link or an <img> on another
    site cannot log a user out."""
