from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime"

    def ready(self):
        # Registers the check that warns when Daphne, Twisted or autobahn
        # differ from the releases realtime.server was tested with.
        from realtime.server import checks  # noqa: F401
