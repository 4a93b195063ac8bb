"""Echoes of good frames before the close that a bad frame earns.

When a client sends good messages and then a bad frame (reserved bits, a
reserved opcode, a continuation with no message open) in one burst, autobahn
fails the connection at once: the close frame went out while the
application was still answering the good messages, and their replies were
then dropped (the socket was closing). RFC 6455 lets either happen, but a
strict endpoint answers what it accepted first, as autobahn-python and
gorilla do; the Autobahn TestSuite calls the other NON-STRICT (3.2-3.4,
4.1.3-4.1.5, 4.2.3-4.2.5, 5.15).

So the failure is held while the application has messages it has not
answered: nothing after the bad frame is read or delivered, and the close
goes out once the application asks for its next message with none waiting
(it has sent what it had to), or after HOLD_SECONDS at most.
"""

from twisted.internet import reactor

HOLD_SECONDS = 1.0


class RepliesBeforeFailure:
    """Mixin for the WebSocket protocol, before autobahn's class in the MRO;
    it needs the protocol's InboundQueue (application_queue), its
    reading_paused flag and resume_reading (which stays paused while a
    failure is held)."""

    held_failure = None  # (code, reason) while held
    held_timer = None

    def _fail_connection(self, code=1001, reason="going away"):
        if self.held_failure is not None:
            return  # a further violation while held: the first one stands
        if self.state == self.STATE_OPEN and self.application_is_busy():
            self.held_failure = (code, reason)
            self.failedByMe = True  # autobahn delivers nothing more
            if not self.reading_paused:
                self.reading_paused = True
                self.transport.pauseProducing()
            self.application_queue.on_idle = self.release_failure
            self.held_timer = reactor.callLater(HOLD_SECONDS, self.release_failure)
            return
        super()._fail_connection(code, reason)

    def application_is_busy(self):
        """Messages wait for the application, or it is handling one (it has
        not come back for the next)."""
        queue = getattr(self, "application_queue", None)
        return queue is not None and (bool(queue.items) or queue.waiter is None)

    # autobahn's parser goes on after a violation unless told to stop; while
    # the failure is held it stops there (the rest is never looked at).
    def _protocol_violation(self, reason):
        return super()._protocol_violation(reason) or self.held_failure is not None

    def _invalid_payload(self, reason):
        return super()._invalid_payload(reason) or self.held_failure is not None

    def release_failure(self):
        if self.held_failure is None:
            return
        code, reason = self.held_failure
        self.held_failure = None
        self.application_queue.on_idle = None
        if self.held_timer is not None and self.held_timer.active():
            self.held_timer.cancel()
        self.held_timer = None
        # What came after the bad frame is not parsed: the next bytes read
        # are the client's close reply.
        self.data = b""
        self.current_frame = None
        super()._fail_connection(code, reason)
        self.resume_reading()
