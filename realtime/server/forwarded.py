"""Which peers may speak for the client: the headers a reverse proxy sets
(X-Forwarded-For, -Port, -Proto, ...) count only on connections from an
address in REALTIME_TRUSTED_PROXIES.

Why: Daphne's --proxy-headers believes X-Forwarded-For from anyone, so a
client reaching the server directly (the image binds 0.0.0.0 with that
flag) could name a new address on every request and escape every
per-address limit (login lockout, signup limit), and write what it liked
into traces and logs. Here the headers are removed from a request whose TCP
peer is not a trusted proxy before Daphne or Django reads them: behind
nginx, the client's address is nginx's word; reached directly, it is the
TCP peer."""

import ipaddress

# Every header by which a proxy speaks for the client: Daphne's defaults,
# Django's SECURE_PROXY_SSL_HEADER (X-Forwarded-Proto), the standard and
# nginx-style variants, and Daphne's own root-path header.
FORWARDING_HEADERS = (
    b"x-forwarded-for",
    b"x-forwarded-port",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-scheme",
    b"x-real-ip",
    b"forwarded",
    b"daphne-root-path",
)


def parse_trusted_proxies(entries):
    """The networks of REALTIME_TRUSTED_PROXIES (addresses or CIDRs, or
    `none`); a ValueError naming the setting for anything else."""
    networks = []
    if [entry.strip().lower() for entry in entries] == ["none"]:
        return ()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"REALTIME_TRUSTED_PROXIES: {entry!r} is not an IP address or network (e.g. 10.0.0.2, 172.18.0.0/16)"
            ) from None
    return tuple(networks)


def is_trusted(host, networks):
    """Whether a TCP peer `host` is one of the trusted proxies. A peer with
    no IP address (a UNIX socket) is a local process, and trusted."""
    if host is None:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def remove_forwarding_headers(headers):
    """Remove FORWARDING_HEADERS from Twisted request headers."""
    for name in FORWARDING_HEADERS:
        if headers.hasHeader(name):
            headers.removeHeader(name)
