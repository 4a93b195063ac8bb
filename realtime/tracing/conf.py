"""Tracing's settings, with their defaults, in one place. Every part of
tracing (the recorder, the writer, retention, the pages, `purgetraces`)
reads them through here; config/settings.py sets them from the environment.

    REALTIME_TRACING                 record at all (default on)
    REALTIME_TRACE_KEEP              per family and latency bucket, and errors per family (10)
    REALTIME_TRACE_MAX_AGE_SECONDS   nothing older is kept (a day)
    REALTIME_TRACE_FLUSH_SECONDS     how often the writer thread writes (1 s)
    REALTIME_TRACE_PURGE_SECONDS     how often it applies retention (10 s)
    REALTIME_TRACE_BUFFER            finished traces waiting for the writer, at most (100,000)
"""

DEFAULTS = {
    "REALTIME_TRACING": True,
    "REALTIME_TRACE_KEEP": 10,
    "REALTIME_TRACE_MAX_AGE_SECONDS": 24 * 3600,
    "REALTIME_TRACE_FLUSH_SECONDS": 1.0,
    "REALTIME_TRACE_PURGE_SECONDS": 10.0,
    "REALTIME_TRACE_BUFFER": 100_000,
}


def setting(name):
    """The current value (read each time: tests change settings)."""
    from django.conf import settings

    return getattr(settings, name, DEFAULTS[name])


def keep():
    return setting("REALTIME_TRACE_KEEP")


def max_age_seconds():
    return setting("REALTIME_TRACE_MAX_AGE_SECONDS")


def load_config():
    """The recorder's configuration, read once when it is made."""
    return {
        "enabled": setting("REALTIME_TRACING"),
        "keep": keep(),
        "max_age": max_age_seconds(),
        "flush_seconds": setting("REALTIME_TRACE_FLUSH_SECONDS"),
        "purge_seconds": setting("REALTIME_TRACE_PURGE_SECONDS"),
        "buffer": setting("REALTIME_TRACE_BUFFER"),
    }
