"""`python -m tests.support.gc_probe_server REPORT <server arguments>`: the
real server (`python -m realtime.server`) with automatic garbage collection
off, for tests that check what closed connections leave to the collector.

On SIGUSR1 it runs one full collection with gc.DEBUG_SAVEALL and writes
what that collection found to the file REPORT (JSON, replaced atomically):
{"round": n, "found": objects, "types": {type name: count, ...},
"connections": the connections the server still tracks}. On SIGUSR2 it
writes only {"round": n, "connections": ...}, collecting nothing, so a test
can wait until the server has let go of the connections it closed. Only for
tests: the server itself has no such switch, so nothing here is reachable
from the network.
"""

import collections
import gc
import json
import os
import signal
import sys

MOST_FOUND = 40


SERVERS = []  # the RealtimeServer of this process, once made


def open_connections():
    return sum(len(server.connections) for server in SERVERS if hasattr(server, "connections"))


def collect_and_report(path, round_number):
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        types = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
    gc.collect()  # DEBUG_SAVEALL kept them: free them now, or the next report counts them again
    write(
        path,
        {
            "round": round_number,
            "found": found,
            "types": dict(types.most_common(MOST_FOUND)),
            "connections": open_connections(),
        },
    )


def write(path, report):
    # Not json.dump: its pure-Python encoder (used with indent) leaves
    # reference cycles of its own for the next collection.
    with open(f"{path}.tmp", "w") as file:
        file.write(json.dumps(report))
    os.replace(f"{path}.tmp", path)


def main():
    path, server_arguments = sys.argv[1], sys.argv[2:]
    gc.disable()
    rounds = iter(range(1, 1 << 30))
    signal.signal(signal.SIGUSR1, lambda signum, frame: collect_and_report(path, next(rounds)))
    signal.signal(
        signal.SIGUSR2, lambda signum, frame: write(path, {"round": next(rounds), "connections": open_connections()})
    )
    from realtime.server.cli import install_uvloop_policy

    install_uvloop_policy()  # as the server does, before daphne.server makes its loop
    from realtime.server import server

    made = server.RealtimeServer.__init__

    def keep(self, *args, **kwargs):  # observe only: the server is made as usual
        made(self, *args, **kwargs)
        SERVERS.append(self)

    server.RealtimeServer.__init__ = keep
    from realtime.server.cli import main as serve

    serve(server_arguments)


if __name__ == "__main__":
    main()
