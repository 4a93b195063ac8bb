"""The models Django loads for the `realtime` app. Each is defined in its
feature's package; they are imported here because Django looks for an app's
models in `<app>.models`."""

from realtime.chat.models import ROOM_NAME_PATTERN, Change, Message, RateWindow, Room  # noqa: F401
from realtime.tracing.models import (  # noqa: F401
    EventLogRecord,
    EventSummary,
    LatencyHistogram,
    RequestSummary,
    TraceRecord,
)
