from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self):
        from realtime.ops import outages

        # Registers the check (an error) when Daphne, Twisted or autobahn
        # differ from the releases realtime.server was tested with.
        from realtime.server import checks  # noqa: F401

        # Redis or the database away: one line when it goes, not a traceback a second.
        outages.install_log_filters()
