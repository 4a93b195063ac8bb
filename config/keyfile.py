"""Secrets that must exist but that nobody has to type: read from a file,
or made once (random) and kept in that file.

Used by config/settings.py (the Django key of a `make run` or `docker run`
installation) and by scripts/init_secrets.py (the compose stack's secrets
volume), so both make and keep secrets the same way.
"""

import os
import secrets
from pathlib import Path


def read(path):
    """The secret in `path` without its trailing newline, or "" when the file
    does not exist."""
    try:
        return Path(path).read_text().rstrip("\r\n")
    except FileNotFoundError:
        return ""


def new_secret(nbytes=48):
    # 48 random bytes give 64 URL-safe characters: over Django's 50-character
    # minimum for SECRET_KEY, and safe in a database URL or a shell.
    return secrets.token_urlsafe(nbytes)


def read_or_create(path, mode=0o600):
    """The secret kept in `path`; made (random) first if the file does not
    exist. Created complete or not at all: written to a temporary file and
    linked into place, so processes starting together (several replicas,
    several test servers) all end up with the one that got there first."""
    path = Path(path)
    existing = read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(new_secret() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)
    return read(path)


def write(path, value, mode=0o600):
    """Replace the secret in `path` with `value` (a value the user gave)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    os.replace(temporary, path)
