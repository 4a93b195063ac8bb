"""The Prometheus endpoint of one server process: GET /metrics on its own
port (REALTIME_METRICS_PORT, bound to REALTIME_METRICS_BIND).

Why a port of its own and not a path behind a bearer token on the public
port: nginx proxies only the application port, so the metrics are not
reachable from outside without anyone configuring a secret; a scrape never
goes through Django, the tracing middleware or the event loop, so it still
answers when the application is stuck (which is when it is wanted); and
several processes on one host simply get one port each (compose gives each
replica its own address, so one fixed port serves them all there).

The endpoint is prometheus-client's own HTTP server in a daemon thread.
What it serves is read at scrape time: the counts of realtime.ops.counts,
the socket figures of realtime.ops.socket_stats and prometheus-client's
process and Python collectors (CPU, memory, file descriptors, GC).
"""

import logging

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from realtime.ops import counts, socket_stats

logger = logging.getLogger(__name__)

_started = None  # (port, bind) once serving


class RealtimeCollector:
    """Turns the plain-int counts and the socket figures into metric
    families when Prometheus asks."""

    def collect(self):
        open_sockets, traffic = socket_stats.snapshot()
        connections = GaugeMetricFamily(
            "realtime_websocket_connections", "Open WebSocket connections, by route.", labels=["route"]
        )
        for route, n in sorted(open_sockets.items()):
            connections.add_metric([route], n)
        # Routes with nothing open now still show 0 once they have been used.
        for route in sorted(set(traffic) - set(open_sockets)):
            connections.add_metric([route], 0)
        yield connections
        messages = CounterMetricFamily(
            "realtime_websocket_messages",
            "WebSocket messages, by route and direction (in, out).",
            labels=["route", "direction"],
        )
        wire_bytes = CounterMetricFamily(
            "realtime_websocket_bytes",
            "WebSocket bytes on the wire (frames, after compression), by route and direction.",
            labels=["route", "direction"],
        )
        for route, (messages_in, messages_out, bytes_in, bytes_out) in sorted(traffic.items()):
            messages.add_metric([route, "in"], messages_in)
            messages.add_metric([route, "out"], messages_out)
            wire_bytes.add_metric([route, "in"], bytes_in)
            wire_bytes.add_metric([route, "out"], bytes_out)
        yield messages
        yield wire_bytes
        for metric in counts.CATALOGUE:
            family_class = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
            family = family_class(metric.name, metric.documentation, labels=list(metric.labels))
            for label_values, value in sorted(metric.samples()):
                family.add_metric(list(label_values), value)
            yield family


def start(port, bind="127.0.0.1"):
    """Serve /metrics on `bind`:`port` from a daemon thread. Raises OSError
    (port in use, address not local) before anything else starts."""
    global _started
    if _started is not None:
        return
    server, _ = start_http_server(port, addr=bind)
    REGISTRY.register(RealtimeCollector())
    _started = (server.server_address[1], bind)
    logger.info("metrics on http://%s:%d/metrics", bind, _started[0])
