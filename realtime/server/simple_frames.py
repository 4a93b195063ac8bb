"""The input fast path: complete, small, simple data frames and keepalive
pongs read straight from the bytes the transport delivers
(frames.take_simple_frames, frames.take_pong), past autobahn's general frame
parser, which still gets everything else."""

from realtime.server.frames import PONG_FIRST_BYTE, take_pong, take_simple_frames


class SimpleFrameInput:
    """Mixin for the WebSocket protocol (before autobahn's class in the MRO):
    it needs autobahn's parser state and `queue_message` of the protocol."""

    def dataReceived(self, data):
        """autobahn's dataReceived without its debug line, whose arguments
        (three strings styled with click) it builds on every read even when
        debug logging is off: ~6% of the server's CPU under echo load."""
        self._dataReceived(data)

    def _dataReceived(self, data):
        """Take complete, small, unfragmented, uncompressed data frames
        straight to onMessage; hand everything else to autobahn.

        Why: autobahn parses every frame through a general state machine (a
        FrameHeader, an XOR masker object, an incremental UTF-8 validator,
        five callbacks); for a 64-byte echo that was a quarter of the
        server's CPU. Frames are taken only when nothing of autobahn's is in
        progress (no buffered bytes, no open frame or fragmented message, no
        logging or timing options, no failure under way); which frames is
        frames.take_simple_frames' rule. The first frame that is anything
        else and every byte after it go to autobahn, which handles or fails
        them exactly as before.
        """
        if not (
            self.state == self.STATE_OPEN
            and not self.data
            and self.current_frame is None
            and not self.inside_message
            and self.applyMask
            and self.utf8validateIncoming
            and not (self.logOctets or self.logFrames or self.trackedTimings)
            and not self.failedByMe
        ):
            super()._dataReceived(data)
            return
        if data and data[0] == PONG_FIRST_BYTE:
            # The answer to a keepalive ping: one a socket every ping
            # interval, 5,000 a second at 100,000 sockets (keepalive.py).
            pong = take_pong(data)
            if pong is not None:
                self.pong_received(*pong)
                if pong[1] == len(data):
                    return
                data = data[pong[1] :]
        # While a ping is outstanding, autobahn's parser takes data frames:
        # it counts them as an answer (autoPingRestartOnAnyTraffic).
        if not self.autoPingTimeoutCall:
            messages, taken, payload_bytes = take_simple_frames(
                data, self.maxFramePayloadSize, self.maxMessagePayloadSize
            )
            if taken:
                stats = self.trafficStats
                stats.incomingOctetsWireLevel += taken
                stats.incomingOctetsWebSocketLevel += payload_bytes
                stats.incomingOctetsAppLevel += payload_bytes
                stats.incomingWebSocketFrames += len(messages)
                stats.incomingWebSocketMessages += len(messages)
                queue_message = self.queue_message
                for message in messages:
                    # What onMessage would queue, decoded once.
                    if message.__class__ is str:
                        queue_message({"type": "websocket.receive", "text": message})
                    else:
                        queue_message({"type": "websocket.receive", "bytes": message})
                if taken == len(data):
                    return
                data = data[taken:]
        super()._dataReceived(data)
