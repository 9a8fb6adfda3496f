"""LocalWeb: a threaded forward HTTP proxy on 127.0.0.1 that serves websites by host name, offline.

Point a crawler at ``web.proxy_url`` (``siteclass crawl --proxy``) and every ``http://<host>/…`` request it
sends in absolute form (``GET http://acme.com/about HTTP/1.1``) is answered from

- a folder laid out like ``siteclass/demo/sites/<host>/`` (``/`` → ``index.html``, ``/about`` → ``about.html``
  or ``about/index.html``, ``/robots.txt`` when the file exists), or
- Python routes: a path → bytes/str/:class:`Reply`, or a handler ``fn(RequestRecord) -> Reply`` for endpoints that
  misbehave (trickling bytes, bombs, errors that change between calls).

Sites answer ``http://`` (absolute-form requests) and ``https://`` (a ``CONNECT`` tunnel that LocalWeb terminates
with a throwaway self-signed certificate; Scrapy does not verify certificates by default). A host the web does
not know is answered like Squid answers a failed DNS lookup: ``502`` with ``X-Squid-Error: ERR_DNS_FAIL 0`` (for
CONNECT the marker is also in the reason phrase); the crawler maps it to the ``dns_error`` status. Every request
is recorded in :attr:`LocalWeb.requests` (a tunnel's requests are recorded with their https URL; the CONNECT
itself only when it fails).
"""

from __future__ import annotations

import functools
import mimetypes
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from siteclass.crawling.failures import DNS_FAIL_HEADER

DNS_FAIL_VALUE = "ERR_DNS_FAIL 0"


@dataclass
class RequestRecord:
    host: str
    path: str
    method: str
    headers: dict[str, str]
    time: float
    url: str = ""
    status: int = 0  # the status answered (0 until the answer is chosen)


@dataclass
class Reply:
    """A response. ``chunks`` are streamed (chunked encoding) with ``delay_s`` between them."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    delay_s: float = 0.0


Handler = Callable[[RequestRecord], Reply]
Route = bytes | str | Reply | Handler


def redirect(location: str, status: int = 301) -> Reply:
    return Reply(b"", status=status, headers={"Location": location})


class _Site:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.routes: dict[str, Route] = {}
        self.fallback: Handler | None = None

    def _file(self, path: str) -> Path | None:
        if self.folder is None:
            return None
        rel = unquote(path).lstrip("/")
        if ".." in Path(rel).parts:
            return None
        base = self.folder / rel
        for candidate in (base / "index.html", base.with_name(base.name + ".html") if rel else None, base):
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    def reply(self, record: RequestRecord) -> Reply | None:
        path_only = record.path.split("?", 1)[0] or "/"
        route = self.routes.get(record.path, self.routes.get(path_only))
        if route is None:
            found = self._file(path_only)
            if found is not None:
                ctype = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
                if ctype.startswith("text/"):
                    ctype += "; charset=utf-8"
                return Reply(found.read_bytes(), content_type=ctype)
            if self.fallback is not None:
                return self.fallback(record)
            return None
        if callable(route):
            return route(record)
        if isinstance(route, Reply):
            return route
        return Reply(route)


class LocalWeb:
    """Forward proxy serving fixture sites by host name. Use as a context manager or call start()/stop()."""

    def __init__(self, sites_root: str | Path | None = None, port: int = 0) -> None:
        self._sites: dict[str, _Site] = {}
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if sites_root is not None:
            self.add_folders(sites_root)

    # ----- content -----
    def add_folder(self, host: str, folder: str | Path) -> None:
        self._site(host).folder = Path(folder)

    def add_folders(self, root: str | Path) -> None:
        """Every sub-folder of *root* is a site named after the folder (``root/acme.com/index.html``)."""
        for folder in sorted(Path(root).iterdir()):
            if folder.is_dir():
                self.add_folder(folder.name, folder)

    def add(self, host: str, path: str, route: Route) -> None:
        self._site(host).routes[path] = route

    def add_site(self, host: str, pages: dict[str, Route]) -> None:
        for path, route in pages.items():
            self.add(host, path, route)

    def add_fallback(self, host: str, handler: Handler) -> None:
        """*handler* answers every path of *host* that no route or file answers."""
        self._site(host).fallback = handler

    def add_unreachable(self, host: str) -> None:
        """*host* resolves but its server refuses connections (Squid's ``ERR_CONNECT_FAIL``)."""
        self.add_fallback(host, lambda record: Reply(
            f"<h1>connection to {record.host} refused</h1>", status=503,
            headers={DNS_FAIL_HEADER: "ERR_CONNECT_FAIL 111"},
        ))

    def _site(self, host: str) -> _Site:
        return self._sites.setdefault(host.lower(), _Site())

    @property
    def hosts(self) -> list[str]:
        return sorted(self._sites)

    # ----- records -----
    def requests_for(self, host: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.host == host.lower()]

    def paths_for(self, host: str) -> list[str]:
        return [r.path for r in self.requests_for(host)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    # ----- server -----
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalWeb is not started")
        return int(self._server.server_address[1])

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalWeb:
        """Start serving (idempotent: a started web is returned as it is)."""
        if self._server is not None:
            return self
        web = self

        class _Handler(_ProxyHandler):
            localweb = web

        server = _Server(("127.0.0.1", self._port), _Handler)
        server.daemon_threads = True
        server.request_queue_size = 256
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="localweb", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalWeb:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def knows(self, host: str) -> bool:
        return host.lower() in self._sites

    def serve(self, record: RequestRecord) -> Reply:
        site = self._sites.get(record.host)
        if site is None:
            return Reply(
                f"<h1>DNS lookup failed for {record.host}</h1>", status=502,
                headers={DNS_FAIL_HEADER: DNS_FAIL_VALUE},
            )
        reply = site.reply(record)
        if reply is None:
            return Reply(b"<h1>404 Not Found</h1>", status=404)
        return reply


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # clients that hang up are normal here
            super().handle_error(request, client_address)


class _ProxyHandler(BaseHTTPRequestHandler):
    localweb: LocalWeb
    protocol_version = "HTTP/1.1"
    server_version = "LocalWeb/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    tunnel_host: str = ""

    def do_CONNECT(self) -> None:
        """Open a TLS tunnel terminated here (self-signed certificate), then serve the site over it."""
        host = self.path.rsplit(":", 1)[0].strip("[]").lower()
        record = RequestRecord(host=host, path="", method="CONNECT", headers=dict(self.headers.items()),
                               time=time.time(), url=f"https://{host}/")
        if not self.localweb.knows(host):
            self.localweb._record(record)
            # Squid's answer; the reason phrase carries the marker since a tunnel failure has no body to read
            self.send_response(502, f"DNS lookup failed {DNS_FAIL_VALUE}")
            self.send_header(DNS_FAIL_HEADER, DNS_FAIL_VALUE)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            conn = _tls_context().wrap_socket(self.connection, server_side=True)
        except (OSError, ValueError):
            self.close_connection = True
            return
        self.connection = conn
        self.rfile = conn.makefile("rb", self.rbufsize)  # type: ignore[assignment]
        self.wfile = conn.makefile("wb", 0)  # type: ignore[assignment]
        self.tunnel_host = host
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()
        self.close_connection = True

    def do_GET(self) -> None:
        self._handle(body=True)

    def do_HEAD(self) -> None:
        self._handle(body=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._handle(body=True)

    def _handle(self, body: bool) -> None:
        target = self.path
        if self.tunnel_host:
            host, path, url = self.tunnel_host, target, f"https://{self.tunnel_host}{target}"
        elif "://" in target:
            parts = urlsplit(target)
            host = (parts.hostname or "").lower()
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            url = target
        else:
            host = (self.headers.get("Host") or "").split(":", 1)[0].lower()
            path, url = target, f"http://{host}{target}"
        record = RequestRecord(
            host=host, path=path, method=self.command, headers={k: v for k, v in self.headers.items()},
            time=time.time(), url=url,
        )
        self.localweb._record(record)
        try:
            reply = self.localweb.serve(record)
        except Exception as exc:  # a broken fixture handler must not kill the server
            reply = Reply(f"handler error: {exc!r}", status=500, content_type="text/plain")
        record.status = reply.status
        self._send(reply, body=body)

    def _send(self, reply: Reply, body: bool = True) -> None:
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": reply.content_type, **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            if reply.chunks is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if body:
                    for chunk in reply.chunks:
                        if reply.delay_s:
                            time.sleep(reply.delay_s)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                return
            data = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body and data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Server TLS context with a throwaway self-signed certificate (crawlers here do not verify certificates)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localweb")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="localweb-tls-"))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def demo_sites_root() -> Path:
    from siteclass.demo import SITES_DIR

    return SITES_DIR


def serve_demo_sites() -> LocalWeb:
    """A started LocalWeb serving the embedded demo websites (``siteclass/demo/sites/<host>/``)."""
    root = demo_sites_root()
    if not root.is_dir():
        raise FileNotFoundError(f"demo sites not found at {root}")
    return LocalWeb(root).start()
