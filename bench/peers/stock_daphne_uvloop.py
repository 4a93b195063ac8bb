"""Stock Daphne on uvloop: the `daphne` command with uvloop's event loop
policy set first, so the loop Daphne creates for Twisted's asyncio reactor
(at daphne.server's import) is uvloop's, as in ours. Nothing else changes:
a baseline on the same event loop as ours.

    python -m bench.peers.stock_daphne_uvloop -b 127.0.0.1 -p 8001 bench.peers.stock_channels:application
"""

import asyncio
import sys

import uvloop

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(sys.argv[1:])
