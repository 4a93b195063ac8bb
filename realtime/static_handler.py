"""Static files on Daphne's port, refusing anything that leaves STATIC_URL.

Django's ASGIStaticFilesHandler takes every path that starts with STATIC_URL
and lets `django.views.static.serve` join it to the static folders; a path
with ".." segments (sent as is, or %-encoded: Daphne decodes the path before
the application sees it) makes that join raise SuspiciousFileOperation, which
the handler does not catch: an HTTP 500 with a traceback in the log. Here
such a path is a plain 404, like any other file that is not there, and
nothing outside STATIC_URL ever reaches the file server.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404


def leaves_its_folder(path):
    """Whether `path` has a segment that could climb out of the folder it
    names ("..", or a backslash or NUL a file system might read as one)."""
    return any(segment == ".." for segment in path.split("/")) or "\\" in path or "\x00" in path


class StaticFilesUnderStaticURL(ASGIStaticFilesHandler):
    """Drop-in for ASGIStaticFilesHandler(application)."""

    def serve(self, request):
        if leaves_its_folder(request.path):
            raise Http404("no such static file")
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            # A path the checks above missed that still resolved outside the
            # static folders: not a file of ours, so not found.
            raise Http404("no such static file") from None
