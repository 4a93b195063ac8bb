"""Django's admin autodiscovery imports `<app>.admin`: each feature registers
its own models in its package's admin module."""

from realtime.chat import admin as chat_admin  # noqa: F401
from realtime.tracing import admin as tracing_admin  # noqa: F401
