"""Base images for the compose test: the official ones the Dockerfile and
docker-compose.yml name by default when they can be pulled, else stand-ins
built from Debian packages (tests/compose/standins/) under names of their
own, handed to compose through the variables the files read (PYTHON_IMAGE,
POSTGRES_IMAGE, REDIS_IMAGE, NGINX_IMAGE). A stand-in is rebuilt only when
its folder, the machine's apt sources or its extra certificates change: the
engine's data root keeps it between runs."""

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STANDINS = Path(__file__).parent / "standins"
BASE_TAG = "realtime-standin/debian:bookworm"
DIGEST_LABEL = "realtime.standin.digest"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# The machine's extra certificate authorities (its TLS egress), for pip in
# the stand-in Python image only.
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")

# variable -> (stand-in folder, stand-in name): Debian bookworm's versions.
STANDIN_FOR = {
    "PYTHON_IMAGE": ("python", "realtime-standin/python:3.11"),
    "POSTGRES_IMAGE": ("postgres", "realtime-standin/postgres:15"),
    "REDIS_IMAGE": ("redis", "realtime-standin/redis:7.0"),
    "NGINX_IMAGE": ("nginx", "realtime-standin/nginx:1.22"),
}


def say(line):
    print(f"[compose test] {line}", file=sys.stderr, flush=True)


def official_defaults(engine):
    """variable -> the image the files name with nothing set, read from the
    compose binary's own model."""
    import json

    model = json.loads(engine.compose("config", "--format", "json", env={}).stdout)
    services = model["services"]
    return {
        "PYTHON_IMAGE": services["web"]["build"]["args"]["PYTHON_IMAGE"],
        "POSTGRES_IMAGE": services["postgres"]["image"],
        "REDIS_IMAGE": services["redis"]["image"],
        "NGINX_IMAGE": services["proxy"]["image"],
    }


def extra_certificates():
    return sorted(EXTRA_CA_DIR.rglob("*.crt")) if EXTRA_CA_DIR.is_dir() else []


def _digest(*paths):
    sha = hashlib.sha256()
    for path in paths:
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            sha.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def _label(engine, tag):
    found = engine.docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{DIGEST_LABEL}"}}}}', tag, check=False
    )
    return found.stdout.strip() if found.returncode == 0 else None


def _base_image(engine):
    """A Debian bookworm minbase root from this machine's apt sources."""
    digest = _digest(APT_SOURCES) if APT_SOURCES.exists() else "default-mirror"
    if _label(engine, BASE_TAG) == digest:
        return BASE_TAG
    if not shutil.which("mmdebstrap"):
        raise AssertionError("the stand-in images need mmdebstrap: scripts/ensure-docker.sh installs it")
    say(f"making {BASE_TAG} with mmdebstrap --variant=minbase bookworm")
    with tempfile.TemporaryDirectory(prefix="realtime-standin-") as tmp:
        tar = Path(tmp) / "rootfs.tar"
        mirror = [str(APT_SOURCES)] if APT_SOURCES.exists() else []
        made = subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase", "--format=tar", "bookworm", str(tar), *mirror],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert made.returncode == 0, f"mmdebstrap failed: {made.stderr[-3000:]}"
        engine.docker(
            "import", "--change", f"LABEL {DIGEST_LABEL}={digest}", "--change", 'CMD ["bash"]', str(tar), BASE_TAG
        )
    return BASE_TAG


def _standin(engine, folder, tag):
    source = STANDINS / folder
    certificates = extra_certificates() if folder == "python" else []
    base = _base_image(engine)
    digest = _digest(source, *certificates) + "-" + (_label(engine, base) or "")
    if _label(engine, tag) == digest:
        say(f"{tag}: kept from an earlier run")
        return
    say(f"building {tag} from Debian packages (tests/compose/standins/{folder})")
    with tempfile.TemporaryDirectory(prefix="realtime-standin-") as tmp:
        context = Path(tmp) / folder
        shutil.copytree(source, context)
        if folder == "python":
            (context / "extra-ca").mkdir()
            for certificate in certificates:
                shutil.copy(certificate, context / "extra-ca" / certificate.name)
        engine.docker(
            "build",
            "--quiet",
            "--build-arg",
            f"BASE={base}",
            "--label",
            f"{DIGEST_LABEL}={digest}",
            "-t",
            tag,
            str(context),
            timeout=900,
        )


def base_images(engine):
    """The variables compose needs for the stand-ins (empty when every
    official image could be pulled)."""
    chosen = {}
    for variable, official in official_defaults(engine).items():
        folder, standin = STANDIN_FOR[variable]
        assert not official.startswith("realtime-standin/"), f"{variable} defaults to a stand-in: {official}"
        if engine.docker("image", "inspect", official, check=False).returncode == 0:
            continue
        pulled = engine.docker("pull", "--quiet", official, check=False, timeout=300)
        if pulled.returncode == 0:
            say(f"{official}: pulled")
            continue
        reason = (pulled.stderr.strip().splitlines() or ["?"])[-1].removeprefix("Error response from daemon: ")
        say(f"{official} cannot be pulled ({reason[:90]}...): the stand-in {standin}")
        _standin(engine, folder, standin)
        chosen[variable] = standin
    return chosen
