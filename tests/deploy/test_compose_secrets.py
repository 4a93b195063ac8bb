"""The compose stack's secrets, through the `secrets` service's own command
and environment from the real compose binary: a value the user gives wins
over a generated and kept one, and nothing secret is written in the files of
the repository (the parity run in test_compose.py covers the first start with
nothing given)."""

import os
import subprocess

from tests.deploy.compose_stack import SECRETS_MOUNT, compose_model, run_secrets_service, substitute
from tests.support.paths import PYTHON, ROOT


def settings_seen_by_web(services, secrets_dir, tmp_path):
    env = {
        key: substitute(str(value), {SECRETS_MOUNT: str(secrets_dir)})
        for key, value in services["web"]["environment"].items()
    }
    run = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-v",
            "0",
            "-c",
            "from django.conf import settings as s; print(s.DATABASES['default']['PASSWORD']); print(s.SECRET_KEY)",
        ],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()[-2:]


def test_values_the_user_gives_win_over_kept_ones(tmp_path):
    """Tried: a first start with nothing set (secrets generated), then a start
    with DJANGO_SECRET_KEY and POSTGRES_PASSWORD exported. The files the app
    and PostgreSQL read now hold the given values, and the app uses them."""
    secrets_dir = tmp_path / "secrets-volume"
    run_secrets_service(compose_model()["services"], secrets_dir)
    generated = (secrets_dir / "postgres_password").read_text().strip()

    given = {"DJANGO_SECRET_KEY": "a-key-the-user-chose-" + "z" * 40, "POSTGRES_PASSWORD": "a password the user chose"}
    services = compose_model(env=given)["services"]
    output = run_secrets_service(services, secrets_dir)
    assert "postgres_password: from POSTGRES_PASSWORD" in output
    assert "django_secret_key: from DJANGO_SECRET_KEY" in output
    assert given["POSTGRES_PASSWORD"] not in output  # only where it came from is printed
    assert (secrets_dir / "postgres_password").read_text().strip() == given["POSTGRES_PASSWORD"] != generated
    assert settings_seen_by_web(services, secrets_dir, tmp_path) == [
        given["POSTGRES_PASSWORD"],
        given["DJANGO_SECRET_KEY"],
    ]


def test_no_secret_is_written_in_the_repository(tmp_path):
    """Tried: the model of both compose files with nothing set. No service
    carries a secret value; the only mentions are the given-or-empty
    variables of the `secrets` service and file paths."""
    for files in ((), ("-f", "docker-compose.yml", "-f", "docker-compose.tls.yml")):
        services = compose_model(*files)["services"]
        for name, service in services.items():
            for key, value in (service.get("environment") or {}).items():
                if any(word in key for word in ("SECRET", "PASSWORD")):
                    assert value == "" or str(value).startswith(SECRETS_MOUNT + "/"), (name, key, value)
        assert services["secrets"]["environment"] == {"DJANGO_SECRET_KEY": "", "POSTGRES_PASSWORD": ""}
