"""The consumer toolkit every socket of this project is built from.

- `consumer`: SocketConsumer, the base of every socket consumer;
- `errors`: ClientError, the one hierarchy of "the client did wrong" errors;
- `close_codes`: the WebSocket close codes we send;
- `codecs`: wire formats in the manner of Go's websocket.Codec;
- `limits`: the per-socket flood throttle;
- `hub`: group fan-out, one channel-layer channel per process;
- `origin`: the Origin check of handshakes;
- `session_auth`: the session/user stack, lean when there is no cookie;
- `redis_connection`: our own Redis clients (any topology).

This __init__ imports nothing, so `realtime.consumer_kit.codecs` stays usable
without Django (the command-line client needs it).
"""
