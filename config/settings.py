"""Settings for the realtime project.

Every value comes from an environment variable with an embedded default, so
`make run` works on a fresh machine (SQLite, in-memory channel layer) and
`docker compose up` switches to PostgreSQL and Redis by setting DATABASE_URL
and REDIS_URL.

Longer than 400 lines: it is the one place every setting and its default
lives, each with the why of its value beside it; splitting it would put
defaults in two places.
"""

import os
from datetime import timedelta
from pathlib import Path

from config import keyfile
from config.environment import (
    env_bool,
    env_database,
    env_float,
    env_host_ports,
    env_int,
    env_list,
    env_redis_url,
    env_redis_urls,
)
from realtime.ops.logs import logging_config
from realtime.server import conf as server_conf

BASE_DIR = Path(__file__).resolve().parent.parent


def env_secret(name):
    """NAME's value, else the contents of the file NAME_FILE names (how the
    compose stack hands secrets over from its volume), else ""."""
    value = os.environ.get(name, "")
    if value:
        return value
    path = os.environ.get(name + "_FILE", "")
    return keyfile.read(path) if path else ""


# Off unless asked for (`make run` asks): debug pages show settings, paths and
# every URL to whoever sends a request.
DEBUG = env_bool("DJANGO_DEBUG", False)

# No key is written in the repository, not even for development: without
# DJANGO_SECRET_KEY the installation makes a random one on its first start and
# keeps it (sessions survive restarts) in DJANGO_SECRET_KEY_FILE, by default
# .secret_key next to manage.py (git- and docker-ignored, mode 0600).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    SECRET_KEY_FILE = Path(os.environ.get("DJANGO_SECRET_KEY_FILE") or BASE_DIR / ".secret_key")
    try:
        SECRET_KEY = keyfile.read_or_create(SECRET_KEY_FILE)
    except OSError as error:
        # Refuse to start, with one line and no traceback: never run on a
        # key that is known or that changes at every start.
        raise SystemExit(
            f"error: DJANGO_SECRET_KEY is not set and no key can be kept in {SECRET_KEY_FILE} ({error.strerror}): "
            "set DJANGO_SECRET_KEY, or DJANGO_SECRET_KEY_FILE to a writable path"
        ) from None

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# A WebSocket handshake from a web page (it has an Origin header) is accepted
# from the site's own origin (the handshake's scheme and Host), these
# origins ("https://app.example.com:8443"; "https://*.example.com" for the
# subdomains) and CSRF_TRUSTED_ORIGINS: scheme, host and port must all match
# (realtime/consumer_kit/origin.py).
REALTIME_ALLOWED_ORIGINS = env_list("REALTIME_ALLOWED_ORIGINS", [])

# "realtime" first: Django takes a management command from the first app
# that has it, and realtime's runserver (this project's server) must win over
# daphne's (stock Daphne) and staticfiles' (WSGI).
INSTALLED_APPS = [
    "realtime",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env_database(
        "DATABASE_URL",
        f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
# A password kept out of DATABASE_URL (the compose stack's generated one is in
# a file: DATABASE_PASSWORD_FILE); one written in the URL wins.
if not DATABASES["default"].get("PASSWORD") and env_secret("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = env_secret("DATABASE_PASSWORD")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE: a transaction takes SQLite's write lock when it starts,
    # so transactions that read and then write (the rate limits,
    # realtime/chat/rate_windows.py) run one after another, as SELECT ... FOR
    # UPDATE makes them on PostgreSQL, instead of two passing the same check
    # or one failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")

# REDIS_URL unset: one process, in-memory layer. Set: channels-redis pub/sub,
# which fans group messages out to every Daphne process subscribed to Redis.
REDIS_URL = env_redis_url("REDIS_URL")
CHANNEL_LAYER_PREFIX = os.environ.get("CHANNEL_LAYER_PREFIX", "realtime")
# More than one Redis (realtime/consumer_kit/redis_connection.py says who uses which):
# REDIS_SHARDS="redis://a:6379/0,redis://b:6379/0": the channel layer spreads
# groups and channels over these (channels-redis consistent hash).
REDIS_SHARDS = env_redis_urls("REDIS_SHARDS")
# REDIS_SENTINELS="127.0.0.1:26379,127.0.0.1:26380": the channel layer and the
# tick lease use the master these sentinels name, and follow a failover.
REDIS_SENTINELS = [f"{host}:{port}" for host, port in env_host_ports("REDIS_SENTINELS")]
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_SENTINEL_DB = env_int("REDIS_SENTINEL_DB", 0)
# Pinned connection options of the layer's Redis pools, one pool per shard per
# process. The hub makes Redis traffic per process, not per socket (one
# subscriber connection plus one for publishing, which channels-redis
# serialises), so a small cap turns a leak into errors instead of thousands of
# connections; the timeouts keep a dead Redis from stalling the event loop.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 8, minimum=1)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2.0, minimum=0.01)
REDIS_CONNECT_TIMEOUT = env_float("REDIS_CONNECT_TIMEOUT", 2.0, minimum=0.01)
REDIS_HEALTH_CHECK_SECONDS = env_int("REDIS_HEALTH_CHECK_SECONDS", 10)


def channel_layer_hosts():
    pinned = {
        "max_connections": REDIS_MAX_CONNECTIONS,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "health_check_interval": REDIS_HEALTH_CHECK_SECONDS,
    }
    if REDIS_SENTINELS:
        sentinels = [
            (host or "127.0.0.1", int(port)) for host, _, port in (entry.rpartition(":") for entry in REDIS_SENTINELS)
        ]
        return [
            {
                "sentinels": sentinels,
                "master_name": REDIS_SENTINEL_MASTER,
                "db": REDIS_SENTINEL_DB,
                "sentinel_kwargs": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
                **pinned,
            }
        ]
    return [{"address": url, **pinned} for url in (REDIS_SHARDS or [REDIS_URL])]


if REDIS_URL or REDIS_SHARDS or REDIS_SENTINELS:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": channel_layer_hosts(), "prefix": CHANNEL_LAYER_PREFIX},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # A process reads its hub channel continuously; the room is for bursts.
            "CONFIG": {"capacity": 10000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Served over HTTPS ----------------------------------------------------------
# Off by default (`make run` is plain HTTP); docker-compose.tls.yml turns them
# on. Behind nginx (DJANGO_BEHIND_PROXY) the scheme the client used is nginx's
# X-Forwarded-Proto: nginx always sets it, so a client cannot forge it.
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# REALTIME_TRUSTED_PROXIES: the proxies whose forwarding headers count
# (realtime/server/conf.py); compose sets nginx's network.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
# Health checks call each replica over plain HTTP on its own port.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SILENCED_SYSTEM_CHECKS = [
    # HSTS for every subdomain, and the browsers' preload list (hard to undo),
    # bind domains this app does not know about: the site's owner decides
    # (DJANGO_HSTS_INCLUDE_SUBDOMAINS, DJANGO_HSTS_PRELOAD).
    "security.W005",
    "security.W021",
]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logs: root, django, daphne and realtime loggers through one handler
# (realtime/ops/logs.py). LOG_FORMAT=json: one JSON object a line.
LOG_FORMAT = (os.environ.get("LOG_FORMAT") or "text").strip().lower()
LOG_LEVEL = os.environ.get("LOG_LEVEL") or "INFO"
# A log record's message is one line (control characters escaped) of at most
# this many characters, whatever a client put in it.
LOG_MESSAGE_MAX_CHARS = env_int("LOG_MESSAGE_MAX_CHARS", 2000)
try:
    LOGGING = logging_config(
        LOG_FORMAT, LOG_LEVEL, os.environ.get("REALTIME_LOG_LEVEL") or "INFO", LOG_MESSAGE_MAX_CHARS
    )
except ValueError as error:
    raise SystemExit(f"error: {error}") from None  # one line, no traceback

# --- WebSocket limits -------------------------------------------------------
# Largest message an application socket accepts; larger ones close with 1009.
REALTIME_MAX_MESSAGE_BYTES = env_int("REALTIME_MAX_MESSAGE_BYTES", 64 * 1024, minimum=1)
# /ws/echo is the protocol-conformance socket, so it takes messages up to the
# server's own frame limit (Daphne's 1 MiB unless raised).
REALTIME_ECHO_MAX_MESSAGE_BYTES = env_int("REALTIME_ECHO_MAX_MESSAGE_BYTES", 1024 * 1024, minimum=1)
# Flood control: a token bucket per socket. A client faster than this is
# throttled (its messages wait, nothing is dropped); TCP back-pressure then
# slows the sender. A browser sends at most ~60-120 mouse events a second;
# one socket of the echo benchmark does ~1,100 ping-pongs a second here, and
# the benchmarks must never meet this limit, so it sits well above both.
REALTIME_RATE_PER_SECOND = env_float("REALTIME_RATE_PER_SECOND", 5000.0, minimum=0.001)
REALTIME_RATE_BURST = env_int("REALTIME_RATE_BURST", 2000, minimum=1)
# The server's own settings (the send and receive bounds, permessage-deflate,
# the SIGTERM grace, TLS, metrics, tracing) and their defaults, each with why,
# are in realtime/server/conf.py, so any Channels project it serves runs
# without them; here each is taken from its environment variable when set.
globals().update(server_conf.from_environment())

# --- Time push --------------------------------------------------------------
# With Redis, processes elect one tick publisher with a lease in Redis,
# renewed every tick. A process that dies loses its lease after this long; the
# others try at every whole second, so publishing moves within lease + 1 s
# (1.5 s keeps that under the promised 3 s with room for a slow loop).
REALTIME_PUBLISHER_LEASE_SECONDS = env_float("REALTIME_PUBLISHER_LEASE_SECONDS", 1.5, minimum=0.1)
# A tick that could not go out on its second (Redis slow or down, the
# publisher stalled, publishing changing hands) is still sent late, in
# order, up to this many seconds late; older ones are dropped, so a long
# outage ends with at most this many late ticks, not a flood.
REALTIME_TICK_CATCH_UP_SECONDS = env_int("REALTIME_TICK_CATCH_UP_SECONDS", 10)

# --- Chat and accounts ----------------------------------------------------------
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# Longest chat message, in characters; longer posts and edits are refused.
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 2000, minimum=1)
# Messages sent on joining and per "load older" page.
CHAT_HISTORY_PAGE = env_int("CHAT_HISTORY_PAGE", 50, minimum=1)
# Per-user posting limit: at most COUNT posts in any SECONDS window, counted
# in the database so it holds across sockets and processes (0 disables).
CHAT_POST_RATE_COUNT = env_int("CHAT_POST_RATE_COUNT", 10)
CHAT_POST_RATE_SECONDS = env_float("CHAT_POST_RATE_SECONDS", 10.0)
# The same for edits (each edit is broadcast to the room like a post).
CHAT_EDIT_RATE_COUNT = env_int("CHAT_EDIT_RATE_COUNT", CHAT_POST_RATE_COUNT)
CHAT_EDIT_RATE_SECONDS = env_float("CHAT_EDIT_RATE_SECONDS", CHAT_POST_RATE_SECONDS)
# New accounts per client address: at most COUNT in any SECONDS window,
# counted in the database, so across processes (0 disables). Behind a proxy
# the address is the one Daphne takes from X-Forwarded-For (--proxy-headers).
ACCOUNTS_SIGNUP_RATE_COUNT = env_int("ACCOUNTS_SIGNUP_RATE_COUNT", 10)
ACCOUNTS_SIGNUP_RATE_SECONDS = env_float("ACCOUNTS_SIGNUP_RATE_SECONDS", 3600.0)
# Failed logins (django-axes, counted in the database, so across processes):
# after ACCOUNTS_LOGIN_FAILURE_LIMIT failures from one client address, or on
# one account from anywhere, logging in from that address or to that account
# is refused (HTTP 429, a page that says why and until when) for
# ACCOUNTS_LOCKOUT_MINUTES; a successful login clears the count. An
# administrator lifts a lockout at once with `manage.py axes_reset_username
# NAME` or `axes_reset_ip ADDRESS`.
ACCOUNTS_LOGIN_FAILURE_LIMIT = env_int("ACCOUNTS_LOGIN_FAILURE_LIMIT", 5)
ACCOUNTS_LOCKOUT_MINUTES = env_float("ACCOUNTS_LOCKOUT_MINUTES", 15.0)
AXES_FAILURE_LIMIT = ACCOUNTS_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ACCOUNTS_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each on its own: per client, and per account
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_CALLABLE = "realtime.chat.views.locked_out"
# The address Daphne gives (the proxy's X-Forwarded-For only with
# --proxy-headers), never a header the client wrote itself.
AXES_CLIENT_IP_CALLABLE = "realtime.chat.views.client_address"
# No table row per successful login (who logged in from where, forever).
AXES_DISABLE_ACCESS_LOG = True
# Each process re-announces who is in its rooms this often; a process that
# stops announcing (it died) drops out of presence after 3 periods.
CHAT_PRESENCE_REFRESH_SECONDS = env_float("CHAT_PRESENCE_REFRESH_SECONDS", 5.0, minimum=0.1)

# --- Request tracing (realtime/tracing/conf.py lists them) ----------------------
# On here (the server's default is off, as it stores into this project's
# tables); the other REALTIME_TRACE_* are in realtime/server/conf.py.
REALTIME_TRACING = env_bool("REALTIME_TRACING", True)

# --- Operations: metrics, errors, traces (realtime/ops, docs/OPERATIONS.md) ---
# Sentry: unhandled errors of views and consumers, when a DSN is set.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "").strip()
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "")
SENTRY_RELEASE = os.environ.get("SENTRY_RELEASE", "")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, maximum=1.0)
SENTRY_SEND_DEFAULT_PII = env_bool("SENTRY_SEND_DEFAULT_PII", False)
# OpenTelemetry: the traces of realtime.tracing exported over OTLP/HTTP when
# an endpoint is set (the SDK's own variables; the traces-only one wins).
OTEL_EXPORTER_OTLP_ENDPOINT = (
    os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
).strip()
if SENTRY_DSN:
    from realtime.ops.sentry import init as init_sentry

    init_sentry(SENTRY_DSN, SENTRY_ENVIRONMENT, SENTRY_RELEASE, SENTRY_TRACES_SAMPLE_RATE, SENTRY_SEND_DEFAULT_PII)
