"""The input fast path: complete, small, unmasked-by-us data frames read
straight from the bytes the transport delivers, past autobahn's general
frame parser (which still gets everything else)."""

from realtime.server.frames import OP_BINARY, OP_TEXT, mask


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
        server's CPU. Here a frame is taken only when nothing of autobahn's
        is in progress (no buffered bytes, no open frame or fragmented
        message, no logging or timing options) and the frame is final, text
        or binary, RSV bits 0, masked, minimally encoded, under 64 KiB and
        within the frame and message size limits, and (text) valid UTF-8 by
        Python's strict decoder. The first frame that is anything else (a
        control frame, a fragment, a compressed or large message, bad UTF-8,
        a protocol error) and every byte after it go to autobahn, which
        handles or fails them exactly as before.
        """
        if (
            self.state == self.STATE_OPEN
            and not self.data
            and self.current_frame is None
            and not self.inside_message
            and self.applyMask
            and self.utf8validateIncoming
            and not (self.logOctets or self.logFrames or self.trackedTimings)
            and not self.autoPingTimeoutCall
        ):
            data = self.take_simple_frames(data)
            if not data:
                return
        super()._dataReceived(data)

    def take_simple_frames(self, data):
        """Deliver the leading simple frames of `data`; return the rest."""
        size = len(data)
        pos = 0
        stats = self.trafficStats
        while size - pos >= 6 and self.state == self.STATE_OPEN:
            first = data[pos]
            second = data[pos + 1]
            opcode = first & 0x0F
            # FIN set, RSV 0, text or binary; MASK set.
            if first & 0xF0 != 0x80 or opcode not in (OP_TEXT, OP_BINARY) or not second & 0x80:
                break
            length = second & 0x7F
            header = 6
            if length == 126:
                if size - pos < 8:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                if length < 126:
                    break  # not minimally encoded: autobahn fails it
                header = 8
            elif length == 127:
                break  # 64 KiB and more: autobahn's path
            end = pos + header + length
            if end > size:
                break
            if 0 < self.maxFramePayloadSize < length or 0 < self.maxMessagePayloadSize < length:
                break
            key = data[end - length - 4 : end - length]
            payload = data[end - length : end]
            payload = mask(payload, key)
            if opcode == OP_TEXT:
                try:
                    message = {"type": "websocket.receive", "text": payload.decode("utf-8")}
                except UnicodeDecodeError:
                    break  # autobahn closes with 1007
            else:
                message = {"type": "websocket.receive", "bytes": payload}
            stats.incomingOctetsWireLevel += end - pos
            stats.incomingOctetsWebSocketLevel += length
            stats.incomingOctetsAppLevel += length
            stats.incomingWebSocketFrames += 1
            stats.incomingWebSocketMessages += 1
            pos = end
            self.queue_message(message)  # what onMessage would queue, decoded once
        return data[pos:] if pos else data
