"""uvicorn's HTTP protocol with TCP_NODELAY on every connection.

With ``--workers N`` uvicorn binds the listening socket itself (protocol number 0), and asyncio only sets
TCP_NODELAY on sockets whose protocol is IPPROTO_TCP: responses written in two parts then wait for the client's
delayed ACK (~40 ms per request). This protocol sets the option on each accepted connection.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

try:  # uvicorn[standard] brings httptools, uvicorn's faster parser
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


class NoDelayHTTPProtocol(_Base):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
