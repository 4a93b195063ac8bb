"""`manage.py purgetraces`: apply trace retention now, in the manner of
`clearsessions`. The server already does this every
REALTIME_TRACE_PURGE_SECONDS while it runs; the command is for a cron job or
after changing the settings."""

from django.core.management.base import BaseCommand

from realtime.tracing import conf
from realtime.tracing.retention import purge_traces


class Command(BaseCommand):
    help = (
        "Delete stored traces and event logs beyond the retention limits: the newest "
        "REALTIME_TRACE_KEEP per family and latency bucket (and errors per family), nothing "
        "older than REALTIME_TRACE_MAX_AGE_SECONDS, per-minute histograms older than 2 hours."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help=f"per family and bucket (default REALTIME_TRACE_KEEP = {conf.keep()})",
        )
        parser.add_argument(
            "--max-age",
            type=int,
            default=None,
            help=f"seconds (default REALTIME_TRACE_MAX_AGE_SECONDS = {conf.max_age_seconds()})",
        )

    def handle(self, *args, keep=None, max_age=None, **options):
        if keep is not None and keep < 0:
            self.stderr.write("--keep must be 0 or more")
            raise SystemExit(2)
        deleted = purge_traces(keep=keep, max_age_seconds=max_age)
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"deleted {deleted['traces']} traces, {deleted['event_logs']} event logs, "
                f"{deleted['histograms']} per-minute histograms"
            )
