"""The Autobahn harness (`make conformance`, scripts/conformance.py). The whole
suite runs in .ci/run after `make test`; here a handful of cases from the
groups stock Daphne fails (empty messages, oversize, compression) run
through the same script, and the setup's failure message is checked."""

import json
import subprocess

import pytest

from tests.support.paths import PYTHON, ROOT

WSTEST = ROOT / ".autobahn-venv" / "bin" / "wstest"


def test_missing_python27_fails_with_a_clear_message(tmp_path):
    """Tried: the setup script on a machine without Python 2.7: it exits 1
    with one line that says what is missing and how to get it."""
    run = subprocess.run(
        ["bash", "scripts/ensure-autobahn.sh", str(tmp_path / "venv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AUTOBAHN_PYTHON27": str(tmp_path / "no-python2.7")},
        timeout=30,
    )
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Python 2.7" in run.stderr and "pyenv install 2.7.18" in run.stderr


def test_a_sample_of_autobahn_cases_passes_through_the_harness(tmp_path):
    if not WSTEST.exists():
        pytest.fail(
            f"no Autobahn TestSuite (wstest) at {WSTEST}: it needs Python 2.7.18, which "
            "scripts/ensure-autobahn.sh did not find (`pyenv install 2.7.18` or set AUTOBAHN_PYTHON27, "
            "then `make install-test`)",
            pytrace=False,
        )
    # 1.1.1 / 1.2.1: empty text / binary message; 5.6: fragmented text;
    # 6.4.1: invalid UTF-8; 9.1.1: 64 KiB message; 12.1.1, 13.3.1:
    # permessage-deflate with default and no-context-takeover offers; 3.2,
    # 4.1.3, 5.15: good frames, then a bad one (strict: echoes first).
    cases = "1.1.1,1.2.1,3.2,4.1.3,5.6,5.15,6.4.1,9.1.1,12.1.1,13.3.1"
    run = subprocess.run(
        [
            PYTHON,
            "-m",
            "scripts.conformance",
            "--wstest",
            str(WSTEST),
            "--outdir",
            str(tmp_path / "report"),
            "--jobs",
            "1",
            "--cases",
            cases,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["cases"] == 10
    assert summary["not_accepted"] == []
    assert set(summary["behavior"]) <= {"OK", "INFORMATIONAL"}  # NON-STRICT fails too
    assert (tmp_path / "report" / "index.html").exists()
