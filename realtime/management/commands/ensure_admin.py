"""`manage.py ensure_admin`: create the admin (superuser) account from
environment variables on a deployment's first start.

    DJANGO_ADMIN_USERNAME  the account to create (unset: do nothing)
    DJANGO_ADMIN_PASSWORD  its password: required, never defaulted, and it
                           must pass AUTH_PASSWORD_VALIDATORS
    DJANGO_ADMIN_EMAIL     optional

Run on every start (docker-compose.yml's `setup` service does): once the
account exists it is left alone, so a password changed in the admin is never
overwritten by a stale environment variable.
"""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the superuser named by DJANGO_ADMIN_USERNAME on first start (password from DJANGO_ADMIN_PASSWORD)."

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_ADMIN_USERNAME", "").strip()
        password = os.environ.get("DJANGO_ADMIN_PASSWORD", "")
        email = os.environ.get("DJANGO_ADMIN_EMAIL", "").strip()
        if not username:
            self.stdout.write("DJANGO_ADMIN_USERNAME is not set: no admin user created")
            return
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"admin user {username!r} already exists: left unchanged")
            return
        if not password:
            raise CommandError(
                f"DJANGO_ADMIN_USERNAME={username!r} is set but DJANGO_ADMIN_PASSWORD is empty: "
                "there is no default password; set one"
            )
        candidate = User(username=username, email=email)
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise CommandError("DJANGO_ADMIN_PASSWORD is too weak: " + " ".join(error.messages)) from None
        User.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(f"admin user {username!r} created")
