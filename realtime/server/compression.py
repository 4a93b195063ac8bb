"""permessage-deflate (RFC 7692) as this server negotiates and runs it.

Stock Daphne never sets autobahn's `perMessageCompressionAccept`, so it
declines every offer; here an offer is accepted (REALTIME_PERMESSAGE_DEFLATE,
on by default). autobahn (pinned >= 26.10 in requirements.txt) bounds
inflation by the max message size, so a small compressed "bomb" closes with
1009 instead of filling memory.

Parameters, and why (measured with /ws/echo: 1,500-2,000 sockets made with
Chrome's offer, each echoed one 500-byte JSON message and then idled; the
table and the command are in docs/SCALE.md):
- No context takeover in either direction: the response always says
  `server_no_context_takeover; client_no_context_takeover` (RFC 7692 7.1.1
  lets a server add both unasked). Each message is compressed and inflated
  on its own, so zlib objects exist only while a message is built or read,
  and an idle socket keeps none: 21 KiB per socket against 20 KiB plain.
  With takeover and zlib's defaults (window 15, memLevel 8; the earlier
  behaviour) it was 123 KiB; websockets' 12 bits/memLevel 5 still 61 KiB;
  server-only takeover with 10 bits/memLevel 2 34 KiB. gorilla/websocket
  chose the same.
- The price is the ratio on small messages, which cannot borrow from the
  previous ones: a 17-byte mouse message grows by 9 % when deflated alone,
  an 84-byte time tick shrinks only to 0.90. Messages under
  REALTIME_DEFLATE_MIN_BYTES (128) therefore go out uncompressed (a
  per-message choice RFC 7692 allows; Node's `ws` does the same under 1 KiB),
  which also keeps them on the fast write path and lets a broadcast share one
  frame. Chat messages (~190-300 bytes) go out at 0.66 of their size, the
  500-byte echo at 0.18.
- Window 12 bits and memLevel 5 (websockets' defaults) for what we deflate:
  without takeover they only size the zlib object of the message in flight,
  the ratio on these messages is the same as with 15/8, and a fresh 15/8
  compressor costs 55 us per message (it clears 256 KiB) against 3.4 us.
  Clients that offer client_max_window_bits (Chrome does) are asked for 12
  too. A client asking for a smaller server window gets it; one asking for
  8, which zlib cannot deflate raw, has that offer declined (the next one, or
  no compression).
The REALTIME_DEFLATE_* settings change each of these.

Odd offers never fail the handshake: an offer with an unknown, repeated or
out-of-range parameter is declined (RFC 7692 section 5) and the next one is
tried; if none is usable the socket opens without compression.
"""

import zlib
from dataclasses import dataclass

from autobahn.websocket.compress import PerMessageDeflate

EXTENSION_NAME = "permessage-deflate"
WINDOW_BITS_OFFERED = range(8, 16)  # what RFC 7692 lets a peer ask for
WINDOW_BITS_USABLE = range(9, 16)  # raw deflate in zlib needs at least 9
MEM_LEVELS = range(1, 10)
NO_VALUE = True  # autobahn's header parser gives a valueless parameter as True


@dataclass(frozen=True)
class DeflatePolicy:
    """What this server asks for in every permessage-deflate response."""

    server_no_context_takeover: bool = True
    client_no_context_takeover: bool = True
    server_window_bits: int = 15
    client_window_bits: int = 15
    mem_level: int = 8
    min_bytes: int = 0  # smaller messages are sent uncompressed

    def __post_init__(self):
        for name in ("server_window_bits", "client_window_bits"):
            if getattr(self, name) not in WINDOW_BITS_USABLE:
                raise ValueError(f"{name} must be 9 to 15, not {getattr(self, name)!r}")
        if self.mem_level not in MEM_LEVELS:
            raise ValueError(f"mem_level must be 1 to 9, not {self.mem_level!r}")
        if self.min_bytes < 0:
            raise ValueError(f"min_bytes must be 0 or more, not {self.min_bytes!r}")

    @classmethod
    def from_settings(cls):
        from django.core.exceptions import ImproperlyConfigured

        from realtime.server.conf import setting

        try:
            return cls(
                server_no_context_takeover=setting("REALTIME_DEFLATE_SERVER_NO_CONTEXT_TAKEOVER"),
                client_no_context_takeover=setting("REALTIME_DEFLATE_CLIENT_NO_CONTEXT_TAKEOVER"),
                server_window_bits=setting("REALTIME_DEFLATE_SERVER_WINDOW_BITS"),
                client_window_bits=setting("REALTIME_DEFLATE_CLIENT_WINDOW_BITS"),
                mem_level=setting("REALTIME_DEFLATE_MEM_LEVEL"),
                min_bytes=setting("REALTIME_DEFLATE_MIN_BYTES"),
            )
        except ValueError as error:
            raise ImproperlyConfigured(f"REALTIME_DEFLATE_*: {error}") from None


@dataclass(frozen=True)
class DeflateOffer:
    """One permessage-deflate offer from a client, as RFC 7692 defines it.
    Window bits: None = not offered, True = offered without a value."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | bool | None = None

    @classmethod
    def parse(cls, params):
        """The offer in autobahn's parsed form ({name: [values]}), or None if
        RFC 7692 says to decline it: an unknown or repeated parameter, or a
        value out of range."""
        found = {}
        for name, values in params.items():
            if len(values) != 1:
                return None
            value = values[0]
            if name in ("server_no_context_takeover", "client_no_context_takeover"):
                if value is not NO_VALUE:
                    return None
                found[name] = True
            elif name in ("server_max_window_bits", "client_max_window_bits"):
                if value is NO_VALUE:
                    if name == "server_max_window_bits":
                        return None  # a value is required here
                    found[name] = True
                    continue
                # "1*DIGIT" without leading zeros (RFC 7692 7.1.2)
                if not (value.isascii() and value.isdigit()) or value.startswith("0"):
                    return None
                bits = int(value)
                if bits not in WINDOW_BITS_OFFERED:
                    return None
                found[name] = bits
            else:
                return None
        return cls(**found)


class DeflateAgreement:
    """The accepted offer in the shape autobahn's handshake code reads (the
    attributes of its PerMessageDeflateOfferAccept), with the response this
    server sends. autobahn's own accept class cannot add
    server_no_context_takeover or server_max_window_bits unless the client
    asked for them, nor take a window of 8 from a client's hint."""

    EXTENSION_NAME = EXTENSION_NAME

    def __init__(self, offer, policy):
        server_bits = policy.server_window_bits
        if offer.server_max_window_bits is not None:
            server_bits = min(server_bits, offer.server_max_window_bits)
        if offer.client_max_window_bits is None:
            client_bits = None  # must not appear in the response
        elif offer.client_max_window_bits is NO_VALUE:
            client_bits = policy.client_window_bits
        else:
            client_bits = min(policy.client_window_bits, offer.client_max_window_bits)
        self.server_no_context_takeover = offer.server_no_context_takeover or policy.server_no_context_takeover
        self.client_no_context_takeover = policy.client_no_context_takeover
        self.server_window_bits = server_bits
        self.client_window_bits = client_bits
        # Read by autobahn's PerMessageDeflate.create_from_offer_accept:
        self.offer = offer
        self.no_context_takeover = self.server_no_context_takeover
        self.request_no_context_takeover = self.client_no_context_takeover
        self.window_bits = server_bits
        # Without a response value the client may use any window: inflate with 15.
        self.request_max_window_bits = max(client_bits or 15, min(WINDOW_BITS_USABLE))
        self.mem_level = policy.mem_level
        self.max_message_size = None  # the protocol's own limit applies
        self.min_bytes = policy.min_bytes

    def get_extension_string(self):
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_window_bits != 15 or self.offer.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_window_bits}")
        if self.client_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_window_bits}")
        return "; ".join(parts)


def choose_agreement(offers, policy):
    """The first offer this server can honour, as a DeflateAgreement, or None.
    An offer that asks for server_max_window_bits=8 cannot be honoured: zlib's
    raw deflate has no 256-byte window."""
    for offer in offers:
        if offer.server_max_window_bits == 8:
            continue
        return DeflateAgreement(offer, policy)
    return None


def split_extensions(extensions):
    """autobahn's parsed Sec-WebSocket-Extensions list -> (the other
    extensions, the usable permessage-deflate offers in the client's order)."""
    others, offers = [], []
    for name, params in extensions:
        if name == EXTENSION_NAME:
            offer = DeflateOffer.parse(params)
            if offer is not None:
                offers.append(offer)
        else:
            others.append((name, params))
    return others, offers


class RealtimePerMessageDeflate(PerMessageDeflate):
    """autobahn's permessage-deflate, with:
    - zlib level 1 for what we send (autobahn hard-codes 6): real-time
      messages are small and sent often, and level 1 compresses 3-4 times
      faster for a few percent more bytes (measured on the Autobahn 12.*
      payloads);
    - the negotiated memLevel (autobahn's server-side accept ignores it);
    - no zlib object kept between messages in a direction without context
      takeover (autobahn keeps one per direction for the socket's life, and
      merely replaces it per message), so an idle socket holds none.
    Inflating is otherwise unchanged, bounded by autobahn as before."""

    COMPRESS_LEVEL = 1
    min_bytes = 0

    def start_compress_message(self):
        if self._compressor is None or self.sends_without_context():
            self._compressor = zlib.compressobj(
                self.COMPRESS_LEVEL, zlib.DEFLATED, -self.send_window_bits(), self.mem_level
            )

    def end_compress_message(self):
        data = super().end_compress_message()
        if self.sends_without_context():
            self._compressor = None
        return data

    def end_decompress_message(self):
        super().end_decompress_message()
        if self.receives_without_context():
            self._decompressor = None

    def sends_without_context(self):
        return self.server_no_context_takeover if self._is_server else self.client_no_context_takeover

    def receives_without_context(self):
        return self.client_no_context_takeover if self._is_server else self.server_no_context_takeover

    def send_window_bits(self):
        return self.server_max_window_bits if self._is_server else self.client_max_window_bits

    def worth_compressing(self, size):
        return size >= self.min_bytes
