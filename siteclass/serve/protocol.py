"""uvicorn's HTTP protocol with TCP_NODELAY on every connection, and each response head sent with its body.

With ``--workers N`` uvicorn binds the listening socket itself (protocol number 0), and asyncio only sets
TCP_NODELAY on sockets whose protocol is IPPROTO_TCP: responses written in two parts then wait for the client's
delayed ACK (~40 ms per request). This protocol sets the option on each accepted connection.

uvicorn writes a response in two calls (the head, then the body): with TCP_NODELAY that is two packets, two
system calls and two wake-ups of the client per response. The connection's transport here holds a response head
back until the body follows and sends both in one write (a head with no body in the same turn of the event loop,
e.g. a streamed response, is sent on the next turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

try:  # uvicorn[standard] brings httptools, uvicorn's faster parser
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


class HeadWithBodyTransport:
    """A transport proxy that joins a response head (``HTTP/…\\r\\n\\r\\n``) to the write that follows it."""

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head + bytes(data))
        elif isinstance(data, bytes) and data.startswith(b"HTTP/") and data.endswith(b"\r\n\r\n"):
            self._head = data
            self._loop.call_soon(self.flush)  # no body in this turn (HEAD, a stream): the head goes alone
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class NoDelayHTTPProtocol(_Base):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self.transport = HeadWithBodyTransport(transport, self.loop)  # type: ignore[assignment]
