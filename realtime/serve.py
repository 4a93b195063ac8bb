"""Run Daphne with this project's extensions: `python -m realtime.serve`
takes the same options as the `daphne` command (e.g. `-b 127.0.0.1 -p 8000
config.asgi:application`)."""

import asyncio
import os
import sys


def main(argv=None):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # uvloop must be the policy before daphne.server creates Twisted's loop at
    # import time. REALTIME_UVLOOP=0 keeps the standard loop.
    if os.environ.get("REALTIME_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    from daphne.cli import CommandLineInterface

    from realtime.server import RealtimeServer

    class RealtimeCommandLine(CommandLineInterface):
        server_class = RealtimeServer

    RealtimeCommandLine().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
