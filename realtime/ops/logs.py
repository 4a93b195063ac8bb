"""Logging, configured in one place: the root, django, daphne and realtime
loggers all go through one handler, in plain text (the default) or, with
LOG_FORMAT=json, one JSON object per line for log shippers:

    {"time": "2025-05-01T12:00:00.123Z", "level": "WARNING", "logger": "django.request",
     "message": "Not Found: /nope", "pid": 4242, "request_path": "/nope",
     "client": "10.0.0.7:51234", "status": 404}

`request_path` (HTTP), `socket_path` (WebSocket) and `client` appear when
the line was written while serving a request or a socket: LogContextMiddleware
puts them in context variables, which asyncio tasks and asgiref's worker
threads carry along. A line can also give them itself with
`extra={"socket_path": ..., "client": ...}`. In JSON mode Daphne's access
log (otherwise NCSA lines on stdout) becomes log records of the
`daphne.access` logger, so every line of the process is JSON.

What a line may contain is decided in one place, LogLineFilter on the one
handler: a record's message is one line (newlines and other control
characters escaped, so text from a client can never forge a line of its
own) of at most LOG_MESSAGE_MAX_CHARS characters. Tracebacks are not
messages and keep their lines.

config/settings.py builds LOGGING with `logging_config`; this module imports
nothing of Django, so settings can import it.
"""

import json
import logging
import os
import re
import time
from contextvars import ContextVar

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

request_path = ContextVar("request_path", default=None)
socket_path = ContextVar("socket_path", default=None)
client_address = ContextVar("client_address", default=None)

# C0 and C1 control characters and the Unicode line and paragraph separators:
# each could end or rewrite a line on a terminal or in a log shipper.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(match):
    char = match.group()
    return ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def one_log_line(message, max_chars):
    """`message` as one line of at most about `max_chars` characters."""
    if len(message) > max_chars:
        message = f"{message[:max_chars]}... [{len(message) - max_chars} more characters]"
    return CONTROL_CHARACTERS.sub(escape_control, message)


class LogLineFilter(logging.Filter):
    """Makes each record's message one bounded line (the module docstring
    says why); it never drops a record."""

    def __init__(self, max_chars=2000):
        super().__init__()
        self.max_chars = max_chars

    def filter(self, record):
        message = record.getMessage()
        line = one_log_line(message, self.max_chars)
        if line is not message or record.args:
            record.msg, record.args = line, ()
        return True


class WithoutTraceback(logging.Filter):
    """Drops a record's traceback: for expected refusals that Django logs
    with one (a request for a Host not in ALLOWED_HOSTS: ~40 lines each,
    from anyone who sends a foreign Host header), where the message says
    it all."""

    def filter(self, record):
        record.exc_info = record.exc_text = None
        return True


def logging_config(log_format="text", level="INFO", realtime_level="INFO", max_message_chars=2000):
    """The LOGGING dict: one console handler on the root logger, which every
    other logger propagates to (so nothing is printed twice, and Django's own
    DEBUG-only console handler and mail_admins are replaced)."""
    log_format = (log_format or "text").strip().lower()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    for name, value in (("LOG_LEVEL", level), ("REALTIME_LOG_LEVEL", realtime_level)):
        if not isinstance(logging.getLevelName(str(value).upper()), int):
            raise ValueError(f"{name} must be a logging level (DEBUG, INFO, WARNING, ERROR), not {value!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {"()": "realtime.ops.logs.JsonFormatter"},
        },
        "filters": {
            "one_line": {"()": "realtime.ops.logs.LogLineFilter", "max_chars": max_message_chars},
            "without_traceback": {"()": "realtime.ops.logs.WithoutTraceback"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["one_line"]},
        },
        "root": {"handlers": ["console"], "level": str(level).upper()},
        "loggers": {
            "django": {"handlers": [], "propagate": True},
            "daphne": {"handlers": [], "propagate": True},
            "django.security.DisallowedHost": {"handlers": [], "propagate": True, "filters": ["without_traceback"]},
            "realtime": {"handlers": [], "propagate": True, "level": str(realtime_level).upper()},
        },
    }


def json_enabled():
    from realtime.server.conf import setting

    return setting("LOG_FORMAT") == "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (tracebacks included)."""

    def format(self, record):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process or os.getpid(),
        }
        for key, var in (("request_path", request_path), ("socket_path", socket_path), ("client", client_address)):
            value = getattr(record, key, None) or var.get()
            if value:
                entry[key] = value
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def client_of(scope):
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


class LogContextMiddleware:
    """Puts the request path or socket path and the client address of the
    connection being served into the logging context variables. Outermost
    in config/asgi.py, so everything below it (Django, the consumers, the
    threads they use) logs with them."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            request_path.set(scope.get("path"))
            client_address.set(client_of(scope))
        elif kind == "websocket":
            socket_path.set(scope.get("path"))
            client_address.set(client_of(scope))
        # Each connection is its own asyncio task (its own context), so these
        # need no resetting.
        return await self.application(scope, receive, send)


def with_log_context(application):
    """`application` wrapped in LogContextMiddleware when logs are JSON (text
    lines do not show the fields, so then it is not even called)."""
    return LogContextMiddleware(application) if json_enabled() else application


class JsonAccessLog:
    """Daphne's access log (its `action_logger` interface), as records of the
    `daphne.access` logger instead of NCSA lines on stdout."""

    logger = logging.getLogger("daphne.access")

    def __call__(self, protocol, action, details):
        client = details.get("client")
        if protocol == "http" and action == "complete":
            self.logger.info(
                "%s %s %s %s",
                details.get("method"),
                details.get("path"),
                details.get("status"),
                details.get("size"),
                extra={"request_path": details.get("path"), "client": client, "status_code": details.get("status")},
            )
        elif protocol == "websocket":
            self.logger.info(
                "WebSocket %s %s",
                action,
                details.get("path"),
                extra={"socket_path": details.get("path"), "client": client},
            )


def access_logger(daphne_action_logger):
    """What Daphne should use as its access log: JSON records when LOG_FORMAT
    is json and an access log is on (daphne -v 1 or --access-log), else
    whatever Daphne's command line chose."""
    if daphne_action_logger is not None and json_enabled():
        return JsonAccessLog()
    return daphne_action_logger
