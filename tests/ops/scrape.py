"""Reading a server's /metrics the way Prometheus does (its text format,
parsed by prometheus-client's own parser)."""

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(port, host="127.0.0.1"):
    """{(sample name, ((label, value), ...)): value} of one scrape."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    """One sample's value; 0 when the labelled series does not exist (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def wait_for(port, condition, timeout=10.0):
    """Scrape until `condition(samples)` holds; the last scrape either way."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if condition(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def exposed_names(port, host="127.0.0.1"):
    """Every metric name a scrape declares, as PromQL would name it (a
    counter `x` as `x_total`), whether or not it has samples yet."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names
