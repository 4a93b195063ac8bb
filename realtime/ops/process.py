"""What a server process starts for operators before it serves
(`python -m realtime.server` calls `start_for_operators`)."""

import os
import socket
import sys


def start_for_operators():
    start_metrics_endpoint()
    start_trace_export()


def start_metrics_endpoint():
    """Prometheus metrics on REALTIME_METRICS_PORT (realtime/ops/metrics.py),
    bound before the server starts so a port already in use stops it with a
    clear message instead of leaving it unobservable."""
    from realtime.server.conf import setting

    port, bind = setting("REALTIME_METRICS_PORT"), setting("REALTIME_METRICS_BIND")
    if not port:
        return
    from realtime.ops import metrics  # prometheus-client: imported only when on

    try:
        metrics.start(port, bind)
    except OSError as error:
        sys.exit(
            f"cannot serve metrics on {bind}:{port} ({error.strerror or error}): "
            "give each server process its own REALTIME_METRICS_PORT, or 0 for none"
        )


def start_trace_export():
    """OpenTelemetry export when OTEL_EXPORTER_OTLP_ENDPOINT is set
    (realtime/ops/otel.py); nothing is imported otherwise."""
    from realtime.server.conf import setting

    if setting("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from realtime.ops import otel

        # The process as the tracer names it (its `process` column).
        otel.configure_from_settings(f"{socket.gethostname()}:{os.getpid()}")
