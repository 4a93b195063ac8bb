"""What operators run and watch: Prometheus metrics, structured logs,
OpenTelemetry export and Sentry error reporting (docs/OPERATIONS.md).

This package's __init__ imports nothing: config/settings.py imports
`realtime.ops.logs` before Django is set up, and prometheus-client,
sentry-sdk and OpenTelemetry are imported only by the modules of the
features an operator turned on.
"""
