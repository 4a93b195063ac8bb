"""Rate limits kept in the database, so they hold across sockets, tabs and
server processes and survive a restart: chat posts and edits per user,
signups per client address.

One row per limited key ("chat.post:12", "signup:203.0.113.9") holds the
times of its last uses (at most the limit's count). `take` locks that row,
checks and records in the caller's transaction, and the caller does the
limited thing in the same transaction: two racing requests are serialised
on the row (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the transaction's
write lock, taken at BEGIN, see DATABASES in config/settings.py), so they
cannot both pass a check that only one of them may.
"""

import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from realtime.chat.models import RateWindow


def take(key, count, seconds):
    """Record one use of `key` and return 0.0, or, when `count` uses already
    fall within the last `seconds`, record nothing and return the seconds
    until the next use is allowed. count <= 0: no limit. Call inside
    transaction.atomic(), around the action the use stands for."""
    if count <= 0:
        return 0.0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("rate_windows.take() must run inside transaction.atomic()")
    now = time.time()
    # The row may not exist yet; creating it cannot race (a conflicting
    # insert is ignored), and the locked read below sees whichever won.
    RateWindow.objects.bulk_create([RateWindow(key=key, updated=timezone.now())], ignore_conflicts=True)
    window = RateWindow.objects.select_for_update().get(key=key)
    recent = [moment for moment in window.recent if moment > now - seconds]
    if len(recent) >= count:
        return max(recent[-count] + seconds - now, 0.001)
    window.recent = (recent + [now])[-count:]
    window.updated = timezone.now()
    window.save(update_fields=["recent", "updated"])
    return 0.0


def forget_idle(prefix, seconds):
    """Delete the rows of keys starting with `prefix` unused for `seconds`
    (they no longer limit anything; for client addresses, not kept longer
    than they are needed)."""
    RateWindow.objects.filter(key__startswith=prefix, updated__lt=timezone.now() - timedelta(seconds=seconds)).delete()
