"""The live fetch behind a forward proxy: every connection a ``CONNECT`` tunnel to the address the guard checked.

A proxy asked for a name would resolve it itself (and might get a private address the guard never saw); asked
for ``GET http://IP/…`` it rebuilds ``Host`` from the IP (RFC 9112 §3.2.2, as Squid does). A tunnel to the IP
avoids both: the proxy relays bytes, and the request inside is the direct one.
"""

from __future__ import annotations

import base64
import ssl
from typing import Any

import httpcore
import httpx

from siteclass.crawling.failures import (
    DNS_FAIL_HEADER,  # the header Squid sends with a failed lookup or connect
)

PROXY_ERROR_HEADER = DNS_FAIL_HEADER.lower()


class TunnelBackend(httpcore.AsyncNetworkBackend):
    """A network backend whose ``connect_tcp(IP, port)`` is a ``CONNECT IP:port`` tunnel through the proxy.

    The proxy relays bytes to the address the guard approved and never sees a name to resolve; the request
    inside the tunnel is the direct one (``Host`` header and TLS SNI carry the name, the certificate is verified
    against it), for http as for https.
    """

    def __init__(self, proxy: str, inner: httpcore.AsyncNetworkBackend) -> None:
        url = httpx.URL(proxy)
        self.proxy, self._inner = proxy, inner
        self._tls = url.scheme == "https"
        self._host, self._port = url.host, url.port or (443 if self._tls else 80)
        self._auth = ""
        if url.username or url.password:
            token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
            self._auth = f"Proxy-Authorization: Basic {token}\r\n"

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(self._host, self._port, timeout, local_address, socket_options)
        try:
            if self._tls:
                stream = await stream.start_tls(ssl.create_default_context(), self._host, timeout)
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            await stream.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{self._auth}\r\n".encode(),
                               timeout)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await stream.read(4096, timeout)
                if not chunk or len(head) > 65536:
                    raise httpcore.ProxyError(f"the proxy {self.proxy} ended the CONNECT to {authority} unanswered")
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            if not 200 <= code < 300:
                marker = next((v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
                               if k.strip().lower() == PROXY_ERROR_HEADER), "")
                raise httpcore.ProxyError(" ".join([*parts[1:], f"[{marker}]" if marker else ""]).strip())
            if rest:
                raise httpcore.ProxyError(f"the proxy {self.proxy} sent data before the tunnel was used")
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def tunnel_through(transport: httpx.AsyncHTTPTransport, proxy: str) -> None:
    """Make *transport*'s connections CONNECT tunnels of *proxy* (see :class:`TunnelBackend`).

    httpx takes no network backend, so the one of its connection pool is wrapped; a test covers it.
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        raise RuntimeError("this httpx/httpcore version has no pool network backend: the live fetch cannot "
                           "tunnel through the proxy; use httpx 0.28 / httpcore 1.0")
    if not isinstance(backend, TunnelBackend):
        pool._network_backend = TunnelBackend(proxy, backend)  # type: ignore[union-attr]


__all__ = ["PROXY_ERROR_HEADER", "TunnelBackend", "tunnel_through"]
