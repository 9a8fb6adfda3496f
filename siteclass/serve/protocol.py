"""uvicorn's HTTP protocol with TCP_NODELAY on every connection, and each response head sent with its body.

With ``--workers N`` uvicorn binds the listening socket itself (protocol number 0), and asyncio only sets
TCP_NODELAY on sockets whose protocol is IPPROTO_TCP: responses written in two parts then wait for the client's
delayed ACK (~40 ms per request). This protocol sets the option on each accepted connection.

uvicorn writes a response in two calls (the head, then the body): with TCP_NODELAY that is two packets, two
system calls and two wake-ups of the client per response. The connection's transport here holds a response head
back until the body follows and sends both in one write (a head with no body in the same turn of the event loop,
e.g. a streamed response, is sent on the next turn).

``serve_workers`` runs several server processes on one port with a socket each (SO_REUSEPORT, Linux), so that
connections are spread evenly over them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
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


# ----------------------------------------------------------------------------------------------- several workers
def reuse_port_supported() -> bool:
    """Linux balances connections over the sockets of a SO_REUSEPORT group (other systems do not)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _worker(app: str, host: str, port: int, log_level: str, access_log: bool) -> None:  # pragma: no cover - a child
    import uvicorn

    sock = _listening_socket(host, port, reuse_port=True)
    config = uvicorn.Config(app, factory=True, log_level=log_level, access_log=access_log,
                            timeout_graceful_shutdown=5, http=NoDelayHTTPProtocol)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(app: str, workers: int, host: str, port: int, log_level: str, access_log: bool = True) -> None:
    """*workers* uvicorn processes, each listening on its own SO_REUSEPORT socket, so that the kernel spreads
    connections evenly over them (with one shared socket, as uvicorn's ``workers=N`` does, whichever process is in
    ``accept`` first takes a whole burst of new connections: 4 and 28 of 32 were seen). A worker that dies is
    started again; SIGINT/SIGTERM stop them all. *app*: an import string of an app factory."""
    import multiprocessing
    import signal
    import time

    _listening_socket(host, port, reuse_port=False).close()  # the port is free (a clear error now, not N later)
    context = multiprocessing.get_context("spawn")
    stop: list[int] = []
    started: dict[int, float] = {}

    def start() -> Any:
        process = context.Process(target=_worker, args=(app, host, port, log_level, access_log),
                                  daemon=False)
        process.start()
        started[id(process)] = time.monotonic()
        return process

    previous = {sig: signal.signal(sig, lambda sig, _: stop.append(sig)) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    try:
        while not stop:
            time.sleep(0.25)
            for i, process in enumerate(processes):
                if stop or process.is_alive():
                    continue
                if time.monotonic() - started.pop(id(process)) < 10:  # it cannot start: restarting will not help
                    raise RuntimeError(f"a server worker exited with code {process.exitcode} while starting")
                processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
