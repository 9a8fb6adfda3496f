"""Helpers of the serve tests, imported by name (``from serve_helpers import running``): an in-process app runner,
a loopback listener that records every connection (the SSRF tests assert it gets none), a resolver that maps test
host names to 127.0.0.1, and a free port. Kept out of ``conftest.py``: another test folder's ``conftest`` module
would shadow it when several folders run in one pytest call."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx


@contextlib.asynccontextmanager
async def running(app: Any, wait_ready: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and an httpx client speaking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            if wait_ready:
                for _ in range(500):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.01)
            yield client


class Listener:
    """A TCP listener on 127.0.0.1 that records every accepted connection."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(addr)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def loopback_resolver(mapping: dict[str, list[str]] | None = None) -> Any:
    """A resolver answering from *mapping* (host → addresses), 127.0.0.1 for names ending in .test."""

    async def resolve(host: str, port: int) -> list[str]:
        from siteclass.serve.guard import ResolutionError

        if mapping and host in mapping:
            return list(mapping[host])
        if host.endswith(".test"):
            return ["127.0.0.1"]
        raise ResolutionError(f"{host} does not resolve (test resolver)")

    return resolve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
