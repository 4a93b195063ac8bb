"""Reading settings from the environment, checked as they are read.

A malformed value stops the start with one line that names the variable and
says what is wrong (SettingError is a SystemExit: no traceback), in the
server, `manage.py` and every management command alike, because they all
read config/settings.py first. A service that is merely down (the database,
Redis) is not a setting error: that is found out later, and survived
(realtime/ops/outages.py).

URLs may hold passwords: an error message shows them as "***".
"""

import math
import os
from urllib.parse import urlsplit

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingError(SystemExit):
    """A malformed setting: exits with status 1 and this one line on stderr."""

    def __init__(self, name, value, problem):
        super().__init__(f"error: {name}={value!r}: {problem}")


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    word = value.strip().lower()
    if word not in TRUE | FALSE:
        raise SettingError(name, value, "not a yes/no value (use 1/0, true/false, yes/no or on/off)")
    return word in TRUE


def env_int(name, default, minimum=0, maximum=None):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise SettingError(name, value, "not a whole number") from None
    return in_range(name, value, number, minimum, maximum)


def env_float(name, default, minimum=0.0, maximum=None):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise SettingError(name, value, "not a number") from None
    if not math.isfinite(number):
        raise SettingError(name, value, "not a finite number")
    return in_range(name, value, number, minimum, maximum)


def in_range(name, value, number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise SettingError(name, value, f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise SettingError(name, value, f"must be at most {maximum}")
    return number


def env_list(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def redacted(url):
    """`url` with the password of its user part (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def url_port(name, value, parts):
    try:
        return parts.port
    except ValueError:
        raise SettingError(name, redacted(value), "the port is not a number from 0 to 65535") from None


def check_redis_url(name, url):
    """A URL redis-py (and channels-redis) can connect to, else SettingError.
    `name` is the variable it came from (an item of a list: "REDIS_SHARDS")."""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise SettingError(name, redacted(url), "not a Redis URL (redis://host:port/db, rediss://... or unix:///path)")
    if parts.scheme == "unix":
        if not parts.path:
            raise SettingError(name, redacted(url), "a unix:// URL needs the socket's path")
        return url
    if not parts.hostname:
        raise SettingError(name, redacted(url), "no host (redis://host:port/db)")
    url_port(name, url, parts)
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise SettingError(name, redacted(url), f"the database {database!r} is not a number (redis://host:port/0)")
    return url


def env_redis_url(name):
    """The Redis URL in `name`, checked; "" if unset."""
    url = os.environ.get(name, "").strip()
    return check_redis_url(name, url) if url else ""


def env_redis_urls(name):
    """Comma-separated Redis URLs, each checked."""
    return [check_redis_url(name, url) for url in env_list(name, [])]


def env_host_ports(name):
    """Comma-separated host:port pairs (the host may be left out: 127.0.0.1),
    as [(host, port), ...]."""
    addresses = []
    for entry in env_list(name, []):
        host, colon, port = entry.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingError(name, os.environ[name], f"{entry!r} is not host:port (a port from 1 to 65535)")
        addresses.append((host or "127.0.0.1", int(port)))
    return addresses


# The database engines this project installs a driver for (requirements.txt).
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "pgsql")
DATABASE_URL_FORM = "sqlite:///path or postgres://user@host:port/name"


def env_database(name, default_url, **options):
    """The database settings dict of the URL in `name` (dj-database-url),
    or SettingError naming what it cannot use."""
    import dj_database_url

    url = os.environ.get(name, "").strip() or default_url
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        raise SettingError(name, redacted(url), f"not a database URL ({DATABASE_URL_FORM})")
    if parts.scheme not in DATABASE_SCHEMES:
        raise SettingError(name, redacted(url), f"unsupported scheme {parts.scheme!r} (use {DATABASE_URL_FORM})")
    if parts.scheme != "sqlite":
        url_port(name, url, parts)
        if not parts.path.strip("/"):
            raise SettingError(name, redacted(url), f"no database name ({DATABASE_URL_FORM})")
    try:
        return dj_database_url.parse(url, **options)
    except ValueError as error:
        raise SettingError(name, redacted(url), " ".join(str(error).split())[:200]) from None
