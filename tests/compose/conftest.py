"""The compose test's engine and base images, shared by its tests: one
dockerd for the session, stopped by its PID at the end."""

import pytest

from tests.compose.engine import Engine
from tests.compose.images import base_images, say


@pytest.fixture(scope="session")
def engine():
    running = Engine().start()
    version = running.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    say(f"dockerd {version} started by this test (pid {running.process.pid}, data root {running.log_path.parent})")
    try:
        yield running
    finally:
        # Images no tag names any more (earlier builds of realtime-app): the
        # kept state would grow by one app image per change otherwise.
        running.docker("image", "prune", "--force", check=False)
        running.stop()
        say("dockerd stopped")


@pytest.fixture(scope="session")
def image_variables(engine):
    return base_images(engine)
