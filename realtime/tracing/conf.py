"""Tracing's settings. Every part of tracing (the recorder, the writer,
retention, the pages, `purgetraces`) reads them through here; their
defaults are with the server's other settings, in realtime/server/conf.py
(the server traces too), and config/settings.py overrides them from the
environment.

    REALTIME_TRACING                 record at all
    REALTIME_TRACE_KEEP              kept per family and latency bucket, and errors per family
    REALTIME_TRACE_MAX_AGE_SECONDS   nothing older is kept
    REALTIME_TRACE_FLUSH_SECONDS     how often the writer thread writes
    REALTIME_TRACE_PURGE_SECONDS     how often it applies retention
    REALTIME_TRACE_BUFFER            finished traces waiting for the writer, at most
    REALTIME_TRACE_PAYLOAD_PREVIEW   characters (or bytes) of a received message kept, as a
                                     sensitive event; 0: only its kind and size
    REALTIME_TRACE_MAX_FAMILIES      trace families stored; traces of further ones share one
    REALTIME_TRACE_LIVE_RECHECK_SECONDS  the live socket re-checks its session this often
"""

from realtime.server.conf import setting


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
        "payload_preview": setting("REALTIME_TRACE_PAYLOAD_PREVIEW"),
        "max_families": setting("REALTIME_TRACE_MAX_FAMILIES"),
    }
