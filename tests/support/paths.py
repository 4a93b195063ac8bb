"""Where things are: the project checkout, the Python that runs the tests
(servers and tools started by the tests use the same one), Chromium."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
