"""https:// and wss:// served by Daphne from a certificate and key given in
the environment (what `make run-tls` does with scripts/dev_cert.py), checked
with clients that trust the development CA: Python (urllib), the project's
client (--cafile), wscat (--ca) and Chromium with the certificate trusted.
Each is also shown to refuse the server without that trust, so the checks
prove verification happened."""

import base64
import hashlib
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support.paths import CHROMIUM, PYTHON, ROOT
from tests.support.ports import free_port, wait_for_port

WSCAT = ROOT / ".node" / "node_modules" / ".bin" / "wscat"


@pytest.fixture
def tls_server(daphne, tmp_path):
    certs = tmp_path / "certs"
    made = subprocess.run([PYTHON, "scripts/dev_cert.py", str(certs)], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    tls_port = free_port()
    server = daphne(
        REALTIME_TLS_CERT_FILE=certs / "server.pem",
        REALTIME_TLS_KEY_FILE=certs / "server-key.pem",
        REALTIME_TLS_PORT=tls_port,
    )
    assert wait_for_port(tls_port, process=server.process), server.output()
    server.tls_port = tls_port
    server.ca = certs / "ca.pem"
    server.cert = certs / "server.pem"
    return server


def test_https_verifies_against_the_development_ca(tls_server):
    url = f"https://127.0.0.1:{tls_server.tls_port}/healthz"
    context = ssl.create_default_context(cafile=str(tls_server.ca))
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"
    # Without the CA the certificate is (rightly) not trusted.
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=10)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    # The plain port keeps serving next to the TLS one.
    with urllib.request.urlopen(f"{tls_server.http_url}/healthz", timeout=10) as response:
        assert response.status == 200


def test_client_cafile_over_wss(tls_server):
    url = f"wss://localhost:{tls_server.tls_port}/ws/echo"
    run = subprocess.run(
        [PYTHON, "-m", "realtime.client", "echo", url, "--cafile", str(tls_server.ca), "over TLS"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert "over TLS" in run.stdout
    untrusted = subprocess.run(
        [PYTHON, "-m", "realtime.client", "echo", url, "nope"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert untrusted.returncode != 0
    assert "Traceback" not in untrusted.stderr and "certificate" in untrusted.stderr.lower()


def test_wscat_with_ca_over_wss(tls_server):
    if not WSCAT.exists():
        pytest.fail(f"this test needs wscat at {WSCAT}: `make install-test` installs it (scripts/ensure-wscat.sh)")
    url = f"wss://127.0.0.1:{tls_server.tls_port}/ws/received"
    run = wscat("-c", url, "--ca", str(tls_server.ca), "-x", "from wscat", "-w", "1")
    assert run.returncode == 0, run.stderr
    assert "Received: from wscat" in run.stdout
    untrusted = wscat("-c", url, "-x", "x", "-w", "1")
    assert untrusted.returncode != 0
    assert "Received: x" not in untrusted.stdout
    assert "certificate" in untrusted.stderr.lower()


def wscat(*args):
    """wscat quits as soon as its stdin ends (readline closes), before any
    reply arrives; keep stdin open until it exits by itself (-w)."""
    process = subprocess.Popen(
        [str(WSCAT), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.stdin.close()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def spki_hash(cert_path):
    """base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in a PEM
    file: what Chromium's --ignore-certificate-errors-spki-list takes."""
    certificate = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())[0]
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_browser_page_over_https_and_wss_with_the_certificate_trusted(tls_server, browser):
    """Chromium trusts exactly this server key (SPKI pin), like a developer
    who added the dev certificate, not `ignore_https_errors` (which would
    accept any certificate). The /echo/ page loads over https:// and talks
    to /ws/received over wss://."""
    from playwright.sync_api import Error as PlaywrightError

    # Browsers with other flags, launched from the session's one Playwright
    # (a second sync_playwright() in the same thread is refused).
    chromium = browser.browser_type
    base = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    url = f"https://localhost:{tls_server.tls_port}/echo/"
    trusted = chromium.launch(
        executable_path=CHROMIUM, args=[*base, f"--ignore-certificate-errors-spki-list={spki_hash(tls_server.cert)}"]
    )
    try:
        page = trusted.new_page()
        page.goto(url)
        page.wait_for_selector("#status[data-state=connected]", timeout=10000)
        assert page.evaluate("window.realtimeSockets.received.url").startswith("wss://")
        page.fill("#message", "sent over wss")
        page.click("#send")
        page.wait_for_function(
            "() => document.getElementById('log').textContent.includes('Received: sent over wss')", timeout=5000
        )
    finally:
        trusted.close()
    untrusted = chromium.launch(executable_path=CHROMIUM, args=base)
    try:
        with pytest.raises(PlaywrightError) as refused:
            untrusted.new_page().goto(url)
        assert "CERT" in str(refused.value)
    finally:
        untrusted.close()
