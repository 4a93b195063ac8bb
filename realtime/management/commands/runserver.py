"""`python manage.py runserver`: Django's development server command, serving
this project's server (realtime.server: its protocol class, limits,
permessage-deflate, SIGTERM handling) instead of stock Daphne, with Django's
autoreload. It is daphne's own runserver command with RealtimeServer as its
server class; `python -m realtime.server` (`make run`) is the production
entry point.

uvloop cannot be chosen here: the `daphne` app imports daphne.server, which
creates Twisted's event loop, while Django loads apps, before this module is
imported. manage.py sets the policy first; the banner names the loop in use.
"""

import daphne.server
from daphne.management.commands.runserver import Command as DaphneRunserverCommand

from realtime.server.cli import raise_file_limit
from realtime.server.server import RealtimeServer


class Command(DaphneRunserverCommand):
    help = "Starts this project's server (realtime.server on Daphne) for development, with autoreload."
    server_cls = RealtimeServer

    def inner_run(self, *args, **options):
        if options.get("use_asgi", True):
            raise_file_limit()
            loop = type(daphne.server.twisted_loop)
            self.stdout.write(
                f"Serving with realtime.server.{RealtimeServer.__name__} on {loop.__module__}.{loop.__name__}"
            )
        return super().inner_run(*args, **options)
