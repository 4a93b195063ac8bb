"""The servers the benchmarks measure ours against, and their one registry.

- `registry`: every server a benchmark can start, by name (ours, its
  variants, and the peers): how to start it, its environment, what it is;
- `stock_channels`, `stock_chat`: stock Channels apps (stock Daphne,
  uvicorn, granian run them); `stock_daphne_uvloop`: stock Daphne on uvloop;
- `websockets_server`, `aiohttp_server`, `picows_server`: raw Python
  servers on uvloop, `ticks` what they share;
- `gorilla_echo/` (Go servers), `loadgen/` (the Go load client), built by `go`.

Every server serves /ws/echo and /ws/time, so each benchmark picks the
same peers by name from the registry.
"""
