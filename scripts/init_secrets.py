"""Make the compose stack's secrets on its first start and keep them.

    python scripts/init_secrets.py DIR [--app-uid UID] [--postgres-gid GID]

docker-compose.yml runs this as the one-shot `secrets` service, before
PostgreSQL and the app start, with DIR a named volume. For each secret:

    DIR/django_secret_key   DJANGO_SECRET_KEY if given, else kept, else random
    DIR/postgres_password   POSTGRES_PASSWORD if given, else kept, else random
    DIR/grafana_admin_password  GRAFANA_ADMIN_PASSWORD likewise, made only
                            when the service is given that variable at all
                            (docker-compose.metrics.yml gives it, empty or not)

A value the user gives always wins (it replaces the file, so PostgreSQL and
the app keep agreeing); a value nobody gave is made once and kept across
restarts. Nothing is written anywhere else.

Run as root (the service does), the files are handed to the readers only: the
Django key to the app's user (mode 0400), the database password to the app's
user and PostgreSQL's group (0440; the official image's entrypoint reads
POSTGRES_PASSWORD_FILE again after dropping to its `postgres` user), the
Grafana password to Grafana's user only (0400).
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import keyfile

# file name -> (the variable a user sets, mode, reader group)
SECRETS = {
    "django_secret_key": ("DJANGO_SECRET_KEY", 0o400, "app"),
    "postgres_password": ("POSTGRES_PASSWORD", 0o440, "postgres"),
    "grafana_admin_password": ("GRAFANA_ADMIN_PASSWORD", 0o400, "grafana"),
}
# Made only for the stacks that use them: when their variable is in the
# environment (an empty value included).
OPTIONAL = {"grafana_admin_password"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--app-uid", type=int, default=10001, help="the app image's user (Dockerfile)")
    parser.add_argument("--postgres-gid", type=int, default=999, help="the postgres image's group")
    parser.add_argument("--grafana-uid", type=int, default=472, help="the grafana image's user")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    for name, (variable, mode, group) in SECRETS.items():
        if name in OPTIONAL and variable not in os.environ:
            continue
        path = args.directory / name
        given = os.environ.get(variable, "")
        if given:
            keyfile.write(path, given, mode=0o600)
            origin = f"from {variable}"
        elif keyfile.read(path):
            origin = "kept"
        else:
            keyfile.read_or_create(path, mode=0o600)
            origin = "generated"
        if as_root:
            owners = {
                "app": (args.app_uid, args.app_uid),
                "postgres": (args.app_uid, args.postgres_gid),
                "grafana": (args.grafana_uid, args.grafana_uid),
            }
            os.chown(path, *owners[group])
        os.chmod(path, mode)
        # Never the value: only where it came from.
        print(f"{name}: {origin}")
    if as_root:
        os.chmod(args.directory, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
