"""Daphne 4.2.3's own test suite against realtime.server: its tests/, from
its sdist on PyPI (fetched at test time into .cache/, never copied into this
repository), with daphne.server.Server replaced by RealtimeServer in its test
server (daphne_suite_plugin.py). It passes apart from the differences we
chose, each in the README's "Differences from stock Daphne" with its reason;
the plugin says how each is allowed for."""

import os
import re
import subprocess
import tarfile

import pytest

from tests.support.paths import PYTHON, ROOT

DAPHNE_VERSION = "4.2.3"
CACHE = ROOT / ".cache" / "daphne-sdist"
SDIST = CACHE / f"daphne-{DAPHNE_VERSION}.tar.gz"
SUITE = CACHE / f"daphne-{DAPHNE_VERSION}"


def daphne_suite():
    """The unpacked sdist (tests/ and its pyproject.toml), fetched once."""
    if not SDIST.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        fetched = subprocess.run(
            [
                PYTHON,
                "-m",
                "pip",
                "download",
                f"daphne=={DAPHNE_VERSION}",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                "--dest",
                str(CACHE),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if fetched.returncode or not SDIST.exists():
            pytest.fail(
                f"cannot fetch Daphne {DAPHNE_VERSION}'s sdist from PyPI (pip download): "
                f"{(fetched.stderr or fetched.stdout).strip().splitlines()[-1:]}"
            )
    if not (SUITE / "tests").is_dir():
        with tarfile.open(SDIST) as archive:
            archive.extractall(CACHE, filter="data")
    return SUITE


@pytest.mark.timeout(1500)  # ~30 s alone; far longer on a loaded machine
def test_daphnes_own_suite_passes_against_our_server(tmp_path):
    suite = daphne_suite()
    record = tmp_path / "servers.txt"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "REALTIME_"))}
    # daphne.testing keeps its test application's messages in two files of
    # the temporary folder, always the same names: a private one, so two
    # runs at once (two checkouts, or CI beside a developer) do not mix.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env.update(PYTHONPATH=str(ROOT), DAPHNE_SUITE_SERVER_RECORD=str(record), TMPDIR=str(private_tmp))
    run = subprocess.run(
        [
            PYTHON,
            "-m",
            "pytest",
            "-p",
            "tests.drop_in.daphne_suite_plugin",
            "tests",
            "-q",
            "-rs",
            "--timeout",
            "120",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "pytest"),
        ],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    output = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"Daphne's suite against RealtimeServer: {summary}\n{output}"
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 69, summary  # 69 passed (1 skipped by Daphne itself) when this was written
    servers = record.read_text().split()
    # Every server the WebSocket and HTTP tests started was ours.
    assert len(servers) >= 40 and set(servers) == {"realtime.server.server.RealtimeServer"}, servers
