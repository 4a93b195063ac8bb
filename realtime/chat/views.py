"""The chat's pages: a room, and the accounts that may post in it (sign up,
log in, log out: Django's auth views and forms, CSRF-protected,
AUTH_PASSWORD_VALIDATORS applied, with templates of this site)."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from realtime.chat.models import Room


def room(request, room):
    # Rooms are created on their first visit.
    room, _ = Room.objects.get_or_create(name=room)
    return render(request, "realtime/chat.html", {
        "room": room,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    })


# -- accounts ---------------------------------------------------------------------


def safe_next(request):
    """The ?next= target if it is on this site, else LOGIN_REDIRECT_URL (no
    open redirects)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@require_http_methods(["GET", "POST"])
def signup(request):
    if request.method == "POST":
        form = UserCreationForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user)
            return redirect(safe_next(request))
    else:
        form = UserCreationForm()
    return render(request, "registration/signup.html", {"form": form, "next": safe_next(request)})


class LoginView(auth_views.LoginView):
    # A logged-in visitor who opens the login page goes on to where they were headed.
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default since 5.0): a link or an <img> on another
    site cannot log a user out."""
