#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] == ["runserver"]:
        # The `daphne` app imports daphne.server while Django loads apps, before
        # any command runs, and that import creates the server's event loop:
        # uvloop has to be the policy before then. The autoreloader's child
        # process runs this file again, so it gets uvloop too.
        from realtime.server.cli import install_uvloop_policy

        install_uvloop_policy()
        # runserver is the development server: typing it asks for DEBUG (the
        # autoreloader's log lines, Django's error pages), as `make run` does.
        # An explicit DJANGO_DEBUG=0 still wins.
        os.environ.setdefault("DJANGO_DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
