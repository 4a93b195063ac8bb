"""What a trace never records: credentials in query strings, form bodies,
JSON and headers, tokens in Sec-WebSocket-Protocol values, and the text a
client sent quoted back in an error note. The one place that decides it;
events.py applies it in the writer thread."""

import re
from urllib.parse import unquote_plus

MAX_SUBPROTOCOL_NAME = 24  # longer Sec-WebSocket-Protocol values are taken for tokens
REDACTED = "[redacted]"


# -- never recorded ------------------------------------------------------------

# Whatever code logs, these never reach the database: values of keys that
# name a credential, in query strings, form bodies, JSON and headers
# (cookies, Authorization, passwords, session ids, CSRF tokens, API keys).
# A key names one when, %-decoded and reduced to its letters and digits, it
# contains one of CREDENTIAL_WORDS ("access_token", "client_secret",
# "password1", "X-Api-Key", "pass%77ord") or is one of CREDENTIAL_KEYS.
# Too much redacted costs a debugging hint; too little, a credential.
CREDENTIAL_WORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "csrf",
    "xsrf",
    "session",
    "sessid",
    "cookie",
    "auth",
    "apikey",
    "accesskey",
    "privatekey",
    "signature",
    "credential",
    "jwt",
    "bearer",
)
CREDENTIAL_KEYS = frozenset({"key", "sid", "sig", "pin", "otp", "code"})
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def names_credential(key):
    """Whether a query, form or JSON key names a credential (see above)."""
    for _ in range(3):  # %2577 is %77 is w: decode until nothing changes
        decoded = unquote_plus(key)
        if decoded == key:
            break
        key = decoded
    key = _NOT_ALNUM.sub("", key.lower())
    return key in CREDENTIAL_KEYS or any(word in key for word in CREDENTIAL_WORDS)


def redact_query(query, depth=0):
    """`query` (a raw query string) with the value of every key that names
    a credential replaced by [redacted]; everything else as sent, except a
    value that is itself a URL or query with a credential in it (a login's
    `next=/x%3Ftoken%3D...`): that one is kept %-decoded and redacted."""
    parts = re.split(r"([&;])", query)
    for index in range(0, len(parts), 2):
        key, equals, value = parts[index].partition("=")
        if not equals:
            continue
        if names_credential(key):
            parts[index] = f"{key}={REDACTED}"
        elif depth < 3 and "=" in (nested := fully_unquoted(value)):
            redacted = redact_query(nested.partition("?")[2] or nested, depth + 1)
            if redacted != (nested.partition("?")[2] or nested):
                prefix = nested.partition("?")[0] + "?" if "?" in nested else ""
                parts[index] = f"{key}={prefix}{redacted}"
    return "".join(parts)


def fully_unquoted(text):
    for _ in range(3):  # %253F is %3F is ?
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text


def redact_subprotocols(subprotocols):
    """Sec-WebSocket-Protocol values as a trace may show them: a name (json,
    xml, chat.v2) as sent; one that names a credential or is too long to be a
    name (`bearer.<token>`, a bare token) only up to its first dot, the rest
    [redacted]. Browsers cannot set headers on a WebSocket, so clients put
    their tokens here."""
    shown = []
    for value in subprotocols or ():
        value = str(value)
        if len(value) <= MAX_SUBPROTOCOL_NAME and not names_credential(value):
            shown.append(value)
        else:
            head = value.partition(".")[0]
            short = len(head) <= MAX_SUBPROTOCOL_NAME and head != value
            shown.append(f"{head}.{REDACTED}" if short else REDACTED)
    return ", ".join(shown) if shown else "none"


class Subprotocols:
    """Subprotocols for an event argument ("%s"), redacted when the event is
    formatted (redact_subprotocols), in the writer thread."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values

    def __str__(self):
        return redact_subprotocols(self.values)


# A quoted or <bracketed> part of an error note: what the client sent, as
# our error messages quote it (unknown action 'x', got <y>), or one of our own
# names (field 'x'). Short identifiers are kept, as names; anything else (a
# token, a sentence, markup) is not.
_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|<([^<>]*)>""")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,15}")


def note_without_client_text(note):
    """An error note as stored: its quoted parts, which repeat what the
    client sent (the client had them in its error frame), as `…`, but for
    names (short identifiers, e.g. a field's)."""
    return _QUOTED.sub(
        lambda m: m.group() if _NAME.fullmatch(m.group(1) or m.group(2) or m.group(3) or "") else "…", note
    )


class QueryString:
    """A query string for an event argument ("%s"): "?<query>" redacted,
    or "" when there is none. Redacted when the event is formatted, in the
    writer thread, not on the event loop."""

    __slots__ = ("query",)

    def __init__(self, query):
        self.query = query

    def __str__(self):
        return "?" + redact_query(self.query) if self.query else ""


# For text that is not a query string (messages, notes): keys anywhere in
# it, with the same words, in the shapes key=value, "key": value, Header:
# value and <Key>value</Key>. Keys, not %-decoded here.
_WORDS = "|".join(
    [word for word in CREDENTIAL_WORDS if word not in ("apikey", "accesskey", "privatekey")]
    + [r"api[_-]?key", r"access[_-]?key", r"private[_-]?key"]
)
_KEY = r"[\w.%-]*?(?:" + _WORDS + r")[\w.%-]*"
SECRET_PATTERNS = (
    # "password": "x"  /  'access_token': 'x'
    re.compile(r"""(?i)(["']""" + _KEY + r"""["']\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,}\s]+)"""),
    # password1=x&...   csrftoken=x; ...
    re.compile(r"(?i)((?<![\w.%-])" + _KEY + r"\s*=\s*)([^&;,\s]+)"),
    # Authorization: Bearer x  /  Cookie: a=b; c=d
    re.compile(r"(?i)(\b(?:authorization|cookie|set-cookie|proxy-authorization)\s*:\s*)(.+)"),
    # <Password>x</Password>
    re.compile(r"(?i)(<(" + _KEY + r")>)(.*?)(?=</\2>)"),
)


def scrub(text):
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text
