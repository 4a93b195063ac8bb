"""What the servers of a benchmark say about their sockets, read from their
own Prometheus endpoints (REALTIME_METRICS_PORT) at the end of a run: why
the sockets they closed were closed, summed over the processes.

    closes_by_reason([port, ...]) -> {"closes": {"1006/none": n, ...},
                                      "keepalive_drops": n, "keepalive_drops_by_ping": {"acknowledged": n, ...},
                                      "slow_client_closes": n}
"""

import collections
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT = 30  # a busy server's metrics thread waits for the GIL


def scrape(port):
    """[(sample name, labels, value)] of one scrape of 127.0.0.1:port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT) as response:
        text = response.read().decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def closes_by_reason(ports):
    """The closes of every route, by code and initiator, and the sockets
    dropped by keepalive (in all, and by whether the client's TCP had
    acknowledged the ping) and for a full send buffer, over all `ports`; a
    port that did not answer is named under "unanswered"."""
    closes, drops, slow, unanswered = collections.Counter(), collections.Counter(), 0, []
    for port in ports:
        try:
            samples = scrape(port)
        except OSError as error:
            unanswered.append(f"{port}: {error}")
            continue
        for name, labels, value in samples:
            if name == "realtime_websocket_closes_total":
                closes[f"{labels['code']}/{labels['initiator']}"] += int(value)
            elif name == "realtime_websocket_keepalive_drops_total":
                drops[labels["ping"]] += int(value)
            elif name == "realtime_websocket_slow_client_closes_total":
                slow += int(value)
    return {
        "closes": dict(closes.most_common()),
        "keepalive_drops": sum(drops.values()),
        "keepalive_drops_by_ping": dict(drops.most_common()),
        "slow_client_closes": slow,
        "unanswered": unanswered,
    }
