"""How many bytes a socket has written that the kernel has not taken yet:
the measure of the bounded send buffer (a client that stops reading)."""


def kernel_level_transport(transport):
    """The TCP transport under `transport`: TLS (and any other Twisted
    ProtocolWrapper) writes through to the `.transport` it wraps, and only
    the TCP one holds the bytes the kernel has not taken yet."""
    while transport is not None and not hasattr(transport, "dataBuffer"):
        transport = getattr(transport, "transport", None)
    return transport


def unsent_bytes(tcp_transport):
    """Bytes written to a Twisted TCP transport and not yet handed to the
    kernel (abstract.FileDescriptor keeps them in dataBuffer from `offset` on,
    plus the writes since its last doWrite in _tempDataBuffer)."""
    if tcp_transport is None:
        return 0
    return len(tcp_transport.dataBuffer) - tcp_transport.offset + tcp_transport._tempDataLen
