"""The one error hierarchy for what a client did wrong.

As in channels-examples' multichat (`ClientError(code)`): a handler raises,
SocketConsumer catches, the client gets an error frame
`{"error": {"code": ..., "message": ...}}` in the socket's codec, and the
socket stays open. Subclasses only say *where* it went wrong (decoding,
the chat's rules); the frame is the same.
"""


class ClientError(Exception):
    """Something the client did wrong; becomes an error frame."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message
