"""A pytest plugin for Daphne's own test suite (`-p
tests.drop_in.daphne_suite_plugin`): its test server (daphne.testing) runs
realtime.server's RealtimeServer in place of daphne.server.Server.

daphne.testing's server process reinstalls Twisted's reactor and imports
daphne.server afresh before it builds the Server, so the class is swapped
right after that: our modules are imported afresh too, so that they use the
new reactor.
"""

import os
import sys

import daphne.testing

reinstall_daphnes_reactor = daphne.testing._reinstall_reactor


def reinstall_reactor_with_our_server():
    reinstall_daphnes_reactor()
    for name in [name for name in sys.modules if name.startswith("realtime.server.")]:
        del sys.modules[name]
    import daphne.server

    from realtime.server.server import RealtimeServer

    daphne.server.Server = RealtimeServer
    # For the test that runs the suite: proof that our class served it.
    record = os.environ.get("DAPHNE_SUITE_SERVER_RECORD")
    if record:
        with open(record, "a") as file:
            file.write(f"{daphne.server.Server.__module__}.{daphne.server.Server.__name__}\n")


daphne.testing._reinstall_reactor = reinstall_reactor_with_our_server
# Daphne's test server gets 2 s to start; on a busy machine (CI, or the
# other suites running beside it) that is not enough for either server.
daphne.testing.BaseDaphneTestingInstance.startup_timeout = 30


def pytest_collection_finish(session):
    """A chosen difference (README, "Differences from stock Daphne"): a
    WebSocket scope has "extensions", ASGI's place for what a server offers
    beyond the spec, which Daphne's scope check does not list. Allowed there
    as one more optional key; every other check of the scope stands."""
    import http_base

    check_keys = http_base.DaphneTestCase.assert_key_sets

    def assert_key_sets(self, required_keys, optional_keys, actual_keys):
        if "subprotocols" in optional_keys:  # the WebSocket scope's check
            optional_keys = optional_keys | {"extensions"}
        check_keys(self, required_keys, optional_keys, actual_keys)

    http_base.DaphneTestCase.assert_key_sets = assert_key_sets
