"""Reading an ASGI connection scope (HTTP or WebSocket), for the middlewares
that look at requests before any consumer: the origin check and tracing."""


def header(scope, name):
    """The value of request header `name` (lower-case bytes, as ASGI gives
    them) as a str, the first if repeated; None when absent."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return None
