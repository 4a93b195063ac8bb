"""The WebSocket close codes this project sends, as the plain ints that
autobahn's sendClose and Channels' close(code=...) take (autobahn refuses
anything whose type is not exactly int). Named once, in
realtime.server.frames.CloseCode; these are its members' values."""

from realtime.server.frames import CloseCode

CLOSE_NORMAL = int(CloseCode.NORMAL)
CLOSE_GOING_AWAY = int(CloseCode.GOING_AWAY)  # the server is shutting down
CLOSE_ABNORMAL = int(CloseCode.ABNORMAL)  # never sent: no close frame, the TCP connection just ended
CLOSE_POLICY_VIOLATION = int(CloseCode.POLICY_VIOLATION)  # e.g. a client too slow to read what it is sent
CLOSE_TOO_BIG = int(CloseCode.TOO_BIG)  # a message over the socket's size limit
