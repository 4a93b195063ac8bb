"""Make a local development CA and a server certificate signed by it, for
`make run-tls` and the TLS tests. Not for production: the CA key is written
next to the certificates.

    python scripts/dev_cert.py [DIR]   (default: certs/)

Writes DIR/ca.pem (trust this one: `--cafile`, `wscat --ca`, a browser),
DIR/server.pem (the server certificate and its chain) and DIR/server-key.pem,
valid for localhost, 127.0.0.1 and ::1 (plus names in REALTIME_TLS_NAMES,
comma-separated). An existing set is kept, so the CA a browser was told to
trust stays the same across runs.
"""

import os
import sys
from pathlib import Path

import trustme


def make_certificates(directory, names=("localhost", "127.0.0.1", "::1")):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    ca = trustme.CA(organization_name="realtime development CA")
    server = ca.issue_cert(*names)
    ca.cert_pem.write_to_path(str(ca_path))
    server.private_key_pem.write_to_path(str(key_path))
    os.chmod(key_path, 0o600)
    with open(cert_path, "wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    return ca_path, cert_path, key_path


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "certs"
    extra = [n.strip() for n in os.environ.get("REALTIME_TLS_NAMES", "").split(",") if n.strip()]
    ca, cert, key = make_certificates(directory, ("localhost", "127.0.0.1", "::1", *extra))
    print(f"CA to trust: {ca}\ncertificate: {cert}\nkey: {key}")


if __name__ == "__main__":
    main()
