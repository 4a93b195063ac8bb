"""`manage.py check --deploy` under the compose stack's own settings: the app
environment the real compose binary gives the `web` service (with the TLS
file, as a site served over HTTPS runs it; nothing set by the user), its
secrets made by the stack's own `secrets` command."""

import os
import subprocess

from tests.deploy.compose_stack import SECRETS_MOUNT, TLS_FILES, compose_model, run_secrets_service, substitute
from tests.support.paths import PYTHON, ROOT


def check_deploy(files, tmp_path):
    services = compose_model(*files)["services"]
    secrets_dir = tmp_path / "secrets"
    run_secrets_service(services, secrets_dir)
    env = {
        key: substitute(str(value), {SECRETS_MOUNT: str(secrets_dir)})
        for key, value in services["web"]["environment"].items()
    }
    # No database or Redis is contacted: the deploy checks read settings only.
    return subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_tls_compose_settings(tmp_path):
    run = check_deploy(TLS_FILES, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    # Only the two HSTS scope warnings are silenced (config/settings.py says why).
    assert "no issues (2 silenced)" in run.stdout, run.stdout


def test_check_deploy_flags_the_plain_http_stack(tmp_path):
    """Tried: the same check without the TLS file (plain HTTP, as for a
    trial on localhost): it names what is missing for HTTPS, which shows the
    check above can fail."""
    run = check_deploy(("-f", "docker-compose.yml"), tmp_path)
    assert run.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in run.stderr + run.stdout, warning
    assert "security.W018" not in run.stderr + run.stdout  # DEBUG is off in the stack either way
