"""The seed samples, re-created: the sockets of the classic Go WebSocket
examples (echo, mouse, received, hello, person, time), the tick publisher
behind the time sockets, the demo pages, and `python -m realtime.client`,
the Go clients' port.

- `values`: what the sample sockets carry (MouseEvent, Person, Ack);
- `consumers`: one thin consumer per sample socket;
- `ticker`: the one tick a second, elected across processes;
- `views`, `urls`: the demo pages;
- `routing`: the sample sockets' paths;
- `client`: the command-line client (imports no Django).

This __init__ imports nothing: the client must run without settings.
"""
