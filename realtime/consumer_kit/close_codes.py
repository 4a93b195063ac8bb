"""The WebSocket close codes (RFC 6455, section 7.4.1) this project sends,
named once so the consumers, the server and the client agree."""

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server is shutting down
CLOSE_ABNORMAL = 1006  # never sent: no close frame, the TCP connection just ended
CLOSE_POLICY_VIOLATION = 1008  # e.g. a client too slow to read what it is sent
CLOSE_TOO_BIG = 1009  # a message over the socket's size limit
