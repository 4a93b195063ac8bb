"""Run Daphne with this project's extensions: `python -m realtime.server`
takes the same options as the `daphne` command (e.g. `-b 127.0.0.1 -p 8000
config.asgi:application`)."""

import asyncio
import os
import sys


def main(argv=None):
    raise_file_limit()
    install_uvloop_policy()
    from realtime.server import internals
    from realtime.server.conf import setting

    # Before daphne.server installs Twisted's reactor, which would already
    # trip over a moved reactor internal (RealtimeServer probes the rest).
    internals.check_at_start(setting("REALTIME_ALLOW_MOVED_INTERNALS"), before_reactor=True)
    from daphne.cli import CommandLineInterface

    from realtime.server.server import RealtimeServer

    class RealtimeCommandLine(CommandLineInterface):
        tls_endpoints = []

        def load_asgi_app(self, asgi_app_path):
            # The project's settings are known once its application is
            # imported (its asgi.py names them): read ours after that.
            application = super().load_asgi_app(asgi_app_path)
            from realtime.ops.process import start_for_operators

            start_for_operators()  # metrics endpoint, trace export: before anything listens
            self.tls_endpoints = tls_endpoints()
            return application

        def server_class(self, *, endpoints, **kwargs):
            return RealtimeServer(endpoints=[*endpoints, *self.tls_endpoints], **kwargs)

    args = list(sys.argv[1:] if argv is None else argv)
    RealtimeCommandLine().run(args)


def install_uvloop_policy():
    """uvloop as asyncio's policy; REALTIME_UVLOOP=0 keeps the standard loop.
    Must run before daphne.server is imported: it creates Twisted's loop at
    import time (and the `daphne` app imports it when Django loads apps)."""
    if os.environ.get("REALTIME_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            return
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def raise_file_limit():
    """Every socket is a file descriptor: take the hard limit (20,000 here)
    instead of the usual soft 1,024, which would refuse the 1,021st client."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # keep the soft limit; the kernel said no


def tls_endpoints():
    """With REALTIME_TLS_CERT_FILE and REALTIME_TLS_KEY_FILE set, one more
    Twisted endpoint serving https:// and wss:// (Twisted's `ssl:` endpoint,
    which needs pyOpenSSL and service-identity) besides the plain one."""
    from twisted.internet.endpoints import quoteStringArgument

    from realtime.server.conf import setting

    cert, key = setting("REALTIME_TLS_CERT_FILE"), setting("REALTIME_TLS_KEY_FILE")
    if not cert and not key:
        return []
    for name, path in (("REALTIME_TLS_CERT_FILE", cert), ("REALTIME_TLS_KEY_FILE", key)):
        if not path or not os.path.isfile(path):
            sys.exit(f"TLS needs both certificate and key files: {name}={path!r} is not a readable file")
    port, bind = setting("REALTIME_TLS_PORT"), setting("REALTIME_TLS_BIND")
    endpoint = (
        f"ssl:{port}:interface={quoteStringArgument(bind)}"
        f":privateKey={quoteStringArgument(key)}:certKey={quoteStringArgument(cert)}"
    )
    return [endpoint]


if __name__ == "__main__":
    main()
