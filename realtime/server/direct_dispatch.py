"""Twisted's asyncio reactor, calling accepted TCP connections' doRead and
doWrite without a log-context wrapper around each call.

Why: AsyncioSelectorReactor registers every reader and writer with the
asyncio loop as `callWithLogger(selectable, self._readOrWrite, ...)`.
callWithLogger copies Twisted's legacy logging context into a new dict, sets
it through a thread-local context tracker, and restores it afterwards, for
every read: under echo load that wrapper cost as much of the server's CPU as
the recv() syscall and the WebSocket frame parsing together. Its only use is
the `system` prefix of legacy `twisted.python.log.msg` lines emitted inside
the call; read and write errors are still caught and logged by
`_readOrWrite` itself, and connections are lost exactly as before.

Only accepted TCP connections (tcp.Server, plain or with TLS on top) take the
direct path; listening ports and everything else keep Twisted's.
"""

import errno

from twisted.internet import asyncioreactor, tcp


class DirectDispatchReactor(asyncioreactor.AsyncioSelectorReactor):
    """Installed by RealtimeServer over Daphne's reactor (same state, same
    loop): see the module docstring."""

    @property
    def dispatch_selectable(self):
        # One bound _readOrWrite for every registration, not a new one
        # (64 bytes) per socket.
        method = self.__dict__.get("_dispatch_selectable")
        if method is None:
            method = self.__dict__["_dispatch_selectable"] = self._readOrWrite
        return method

    def addReader(self, reader):
        if not isinstance(reader, tcp.Server):
            return super().addReader(reader)
        if reader in self._readers or reader in self._continuousPolling._readers:
            return
        # A connected socket is never refused by epoll (the EPERM case of
        # Twisted's addReader is for regular files).
        fd = reader.fileno()
        try:
            self._asyncioEventloop.add_reader(fd, self.dispatch_selectable, reader, True)
        except OSError as error:
            self._unregisterFDInAsyncio(fd)
            if error.errno != errno.EPERM:
                raise
            self._continuousPolling.addReader(reader)
            return
        self._readers[reader] = fd

    def addWriter(self, writer):
        if not isinstance(writer, tcp.Server):
            return super().addWriter(writer)
        if writer in self._writers or writer in self._continuousPolling._writers:
            return
        fd = writer.fileno()
        try:
            self._asyncioEventloop.add_writer(fd, self.dispatch_selectable, writer, False)
        except PermissionError:
            self._unregisterFDInAsyncio(fd)
            self._continuousPolling.addWriter(writer)
            return
        except BrokenPipeError:
            self._unregisterFDInAsyncio(fd)
            return
        except BaseException:
            self._unregisterFDInAsyncio(fd)
            raise
        self._writers[writer] = fd


def install_direct_dispatch(reactor):
    """Make the installed reactor (Daphne's, an AsyncioSelectorReactor) a
    DirectDispatchReactor. Daphne creates and installs its reactor when
    daphne.server is imported, so ours takes over that instance: same loop,
    same registered readers (those keep their callbacks), new registrations
    go direct. Call before the first connection is accepted."""
    if isinstance(reactor, DirectDispatchReactor):
        return
    if type(reactor) is not asyncioreactor.AsyncioSelectorReactor:
        return  # some other reactor: leave it alone
    reactor.__class__ = DirectDispatchReactor
