"""System check: Daphne, Twisted and autobahn are the releases this package
was tested with (an error otherwise).

realtime.server subclasses Daphne's protocol and server and reaches into
internals of autobahn (the frame parser, the closing handshake,
permessage-deflate) and of Twisted (the TCP transport's write buffer). None
of that is public API, so another release can change it without an
ImportError: the symptom would be a wrong close code or an unbounded buffer
under load. requirements.txt pins these releases and the lock installs them;
this check is an error when an environment was installed some other way
(`manage.py check`, and every command that runs the checks, stops on it).
What the server relies on is listed in internals.py and probed when it
starts, whatever the versions.

Only importlib.metadata is imported here: importing Twisted would install
its reactor before `python -m realtime.server` has chosen the event loop.
"""

from importlib import metadata

from django.core import checks

# The releases the test suite ran against; keep in step with the pins in
# requirements.txt (and `make lock`). One check id each, so a deployment
# that has re-checked one of them can silence just that one
# (SILENCED_SYSTEM_CHECKS); internals.py still probes at every start.
TESTED_DAPHNE = "4.2.3"
TESTED_TWISTED = "26.10.0"
TESTED_AUTOBAHN = "26.11.1"

TESTED_RELEASES = (
    # (distribution name, tested version, check id)
    ("daphne", TESTED_DAPHNE, "realtime.E001"),
    ("Twisted", TESTED_TWISTED, "realtime.E002"),
    ("autobahn", TESTED_AUTOBAHN, "realtime.E003"),
)


def installed_version(distribution):
    """The installed version of `distribution`, or None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@checks.register(checks.Tags.compatibility)
def check_server_dependency_versions(app_configs=None, **kwargs):
    errors = []
    for distribution, tested, check_id in TESTED_RELEASES:
        installed = installed_version(distribution)
        if installed == tested:
            continue
        found = f"{distribution} {installed} is installed" if installed else f"{distribution} is not installed"
        errors.append(
            checks.Error(
                f"{found}; realtime.server was tested with {distribution} {tested} and relies on its internals.",
                hint=(
                    "Install from requirements.lock (`make install`, or pip install --require-hashes "
                    "-r requirements.lock). To move to this version, re-check realtime/server against it, "
                    "then update the pin in requirements.txt, the tested version in "
                    "realtime/server/checks.py, and run `make lock`."
                ),
                id=check_id,
            )
        )
    return errors
