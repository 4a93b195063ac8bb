"""What a server process starts for operators before it serves
(`python -m realtime.server` calls this)."""

import sys


def start_metrics_endpoint():
    """Prometheus metrics on REALTIME_METRICS_PORT (realtime/ops/metrics.py),
    bound before the server starts so a port already in use stops it with a
    clear message instead of leaving it unobservable."""
    from django.conf import settings

    port, bind = settings.REALTIME_METRICS_PORT, settings.REALTIME_METRICS_BIND
    if not port:
        return
    from realtime.ops import metrics  # prometheus-client: imported only when on

    try:
        metrics.start(port, bind)
    except OSError as error:
        sys.exit(f"cannot serve metrics on {bind}:{port} ({error.strerror or error}): "
                 "give each server process its own REALTIME_METRICS_PORT, or 0 for none")
