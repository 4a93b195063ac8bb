"""The system check that is an error when Daphne, Twisted or autobahn differ from
the releases realtime.server was tested with.

A different release is made "installed" the way it happens for real: a
package's metadata (a .dist-info folder) found earlier on the path than the
one in the virtualenv, which is what importlib.metadata then reports."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import ERROR

from realtime.server import checks

ROOT = Path(__file__).resolve().parents[2]


def shadow_distribution(folder, name, version):
    """Metadata for `name` `version` in `folder`, which goes first on the path."""
    dist_info = folder / f"{name.lower()}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return folder


def manage_py_check(*, pythonpath=None):
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_check_is_silent_with_the_tested_releases():
    # Tried: `manage.py check` in this environment, installed from the lock.
    result = manage_py_check()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "realtime.E00" not in output, output


def test_manage_py_check_fails_on_an_untested_daphne(tmp_path):
    # Tried: `manage.py check` with daphne 4.2.2's metadata ahead of the real
    # 4.2.3 on the path; the error names both versions and its id, and
    # fails the command (exit status 1) at Django's default level.
    result = manage_py_check(pythonpath=shadow_distribution(tmp_path, "daphne", "4.2.2"))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "(realtime.E001) daphne 4.2.2 is installed; realtime.server was tested with daphne 4.2.3" in output
    assert "requirements.lock" in output, "the hint says how to get the tested release"
    assert "realtime.E002" not in output and "realtime.E003" not in output, output


@pytest.mark.parametrize(
    ("distribution", "untested", "check_id"),
    [
        ("daphne", "4.3.0", "realtime.E001"),
        ("Twisted", "25.5.0", "realtime.E002"),
        ("autobahn", "26.10.2", "realtime.E003"),
    ],
)
def test_each_untested_release_gets_its_own_error(tmp_path, monkeypatch, distribution, untested, check_id):
    # Tried: one of the three at another release (metadata first on sys.path),
    # the check function called in-process; only that one is reported.
    monkeypatch.syspath_prepend(str(shadow_distribution(tmp_path, distribution, untested)))
    errors = checks.check_server_dependency_versions()
    assert [(e.id, e.level) for e in errors] == [(check_id, ERROR)]
    assert errors[0].msg.startswith(f"{distribution} {untested} is installed;")


def test_tested_releases_match_the_pins_in_requirements():
    # Tried: reading requirements.txt; a pin moved without the check's
    # constants (or the reverse) would make every install warn, or none.
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[name.lower()] = version
    assert {name.lower(): tested for name, tested, _ in checks.TESTED_RELEASES} == {
        name: pins.get(name) for name in ("daphne", "twisted", "autobahn")
    }
