"""SSRF guard: every vector is refused with 400 url_not_allowed and gets no connection at all.

A listener on 127.0.0.1 records any accepted connection; the fetcher's own counter records any request sent.
Redirect hops are re-checked (a permitted host on 127.0.0.2 redirects to loopback), and the connection is pinned
to the address the guard approved (a resolver that answers differently the second time is never followed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from serve_helpers import Listener, loopback_resolver, running

from siteclass.config import ServeSettings
from siteclass.serve.app import create_app
from siteclass.serve.guard import UrlNotAllowed, address_problem, parse_ipv4_host


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "0x7f.1", "127.0.0.1"])
def test_every_ipv4_form_is_parsed_as_the_address(host: str) -> None:
    assert parse_ipv4_host(host) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize("host", ["example.com", "a1.b2", "0x.example", "localhost"])
def test_names_are_not_addresses(host: str) -> None:
    assert parse_ipv4_host(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.2.3.09", "example.123"])
def test_numeric_hosts_that_are_not_valid_ipv4_are_refused(host: str) -> None:
    with pytest.raises(UrlNotAllowed):
        parse_ipv4_host(host)


@pytest.mark.parametrize(
    "addr",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1",
     "::ffff:8.8.8.8", "2002:7f00:1::", "::127.0.0.1"],
)
def test_non_global_addresses_have_a_problem(addr: str) -> None:
    assert address_problem(ipaddress.ip_address(addr))


@pytest.mark.parametrize("addr", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_global_addresses_pass(addr: str) -> None:
    assert address_problem(ipaddress.ip_address(addr)) is None


def _vectors(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/", f"127.0.0.1:{port}", f"http://2130706433:{port}/", f"http://0x7f000001:{port}/",
        f"http://0177.0.0.1:{port}/", f"http://127.1:{port}/", f"http://0:{port}/", f"http://0.0.0.0:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/", f"http://[::ffff:7f00:1]:{port}/", f"http://[::1]:{port}/",
        f"http://[::]:{port}/", f"http://localhost:{port}/", f"http://internal.test:{port}/",
        f"http://mixed.test:{port}/", f"https://127.0.0.1:{port}/", f"http://LOCALHOST.:{port}/admin",
        "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://10.0.0.1/", "http://192.168.1.1/",
        "http://172.16.0.1/", "http://224.0.0.1/", "http://[fe80::1]/", "http://[fd00::1]/",
        f"ftp://127.0.0.1:{port}/", "file:///etc/passwd", f"gopher://127.0.0.1:{port}/_x",
        f"http://user:pw@127.0.0.1:{port}/",
    ]


def test_every_vector_is_refused_without_a_connection(keyword_model, listener: Listener) -> None:
    resolver = loopback_resolver({"localhost": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "127.0.0.1"]})
    app = create_app(keyword_model, ServeSettings(), resolver=resolver)

    async def go() -> None:
        async with running(app) as c:
            for url in _vectors(listener.port):
                r = await c.post("/v1/predict", json={"url": url})
                assert r.status_code == 400, (url, r.status_code, r.text)
                assert r.json()["error"] == "url_not_allowed", url
                assert r.json()["detail"]
        await asyncio.sleep(0.3)

    asyncio.run(go())
    assert app.state.serve.fetcher.requests_sent == 0
    assert listener.accepted == []


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[tuple[str, str]] = []

    def log_message(self, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.seen.append((self.headers.get("Host") or "", self.path))
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for k, v in {"Content-Type": "text/html", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def second_loopback() -> Iterator[tuple[ThreadingHTTPServer, Listener, type[_Handler]]]:
    """A web server on 127.0.0.2:P and a recording listener on 127.0.0.1:P (same port P)."""
    handler: Any = type("H", (_Handler,), {"routes": {}, "seen": []})
    for _ in range(20):
        server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
        port = server.server_address[1]
        try:
            lst = Listener.__new__(Listener)
            import socket

            lst.sock = socket.socket()
            lst.sock.bind(("127.0.0.1", port))
        except OSError:
            server.server_close()
            continue
        lst.sock.listen(16)
        lst.sock.settimeout(0.2)
        lst.port, lst.accepted, lst._stop = port, [], threading.Event()
        lst._thread = threading.Thread(target=lst._loop, daemon=True)
        lst._thread.start()
        break
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, lst, handler
    server.shutdown()
    server.server_close()
    lst.close()


def test_redirect_hops_are_checked_again(keyword_model, second_loopback) -> None:
    _server, lst, handler = second_loopback
    port = lst.port
    targets = [f"http://127.0.0.1:{port}/", f"http://2130706433:{port}/", f"http://[::ffff:127.0.0.1]:{port}/",
               f"http://internal.test:{port}/", "file:///etc/passwd"]
    for i, target in enumerate(targets):
        handler.routes[f"/r{i}"] = (302, {"Location": target}, b"")
    settings = ServeSettings(allow_networks=["127.0.0.2/32"])
    app = create_app(keyword_model, settings, resolver=loopback_resolver())

    async def go() -> None:
        async with running(app) as c:
            for i in range(len(targets)):
                r = await c.post("/v1/predict", json={"url": f"http://127.0.0.2:{port}/r{i}"})
                assert r.status_code == 400, (targets[i], r.text)
                assert r.json()["error"] == "url_not_allowed"
        await asyncio.sleep(0.3)

    asyncio.run(go())
    assert [p for _, p in handler.seen if p[:2] == "/r" and p[2:].isdigit()] == [f"/r{i}" for i in range(len(targets))]
    assert lst.accepted == []


def _ask_rebinding_site(model: Any, second_loopback: Any, proxy: str | None = None) -> tuple[dict[str, Any], int, int]:
    """Serve a two-page plumbing site on 127.0.0.2 and ask the app about http://pipes.example through a resolver
    that answers 127.0.0.2 the first time and 127.0.0.1 after (DNS rebinding): (answer, port, resolver calls)."""
    _server, lst, handler = second_loopback
    port = lst.port
    home = b"<html><title>Pipes</title><body><p>We fix pipes and drains.</p><a href='/about'>About us</a></body></html>"
    about = b"<html><title>About</title><body><p>Plumbing company fixing leaks since 1990.</p></body></html>"
    handler.routes.update({"/": (200, {}, home), "/about": (200, {}, about), "/robots.txt": (404, {}, b"")})
    answers = {"count": 0}

    async def rebinding(host: str, port_: int) -> list[str]:
        answers["count"] += 1
        return ["127.0.0.2"] if answers["count"] == 1 else ["127.0.0.1"]  # the second answer points inside

    app = create_app(model, ServeSettings(allow_networks=["127.0.0.2/32"], proxy=proxy), resolver=rebinding)

    async def go() -> dict[str, Any]:
        async with running(app) as c:
            r = await c.post("/v1/predict", json={"url": f"http://pipes.example:{port}/"})
            assert r.status_code == 200, r.text
            return dict(r.json())

    return asyncio.run(go()), port, answers["count"]


def test_connection_is_pinned_to_the_checked_address(keyword_model, second_loopback) -> None:
    _server, lst, handler = second_loopback
    body, port, resolved = _ask_rebinding_site(keyword_model, second_loopback)
    assert body["status"] == "ok" and body["label"] == "plumbing"
    assert [p["url"] for p in body["pages"]] == [f"http://pipes.example:{port}/", f"http://pipes.example:{port}/about"]
    # every hop (robots.txt, home, about) went to the approved address, speaking the site's Host header
    assert {(f"pipes.example:{port}", p) for p in ("/robots.txt", "/", "/about")} <= set(handler.seen)
    assert resolved == 1  # resolved once per fetch: the rebinding answer was never asked for
    assert lst.accepted == []


def _tls_material(tmp_path: Any) -> tuple[Any, Any]:
    """A test CA and a certificate for secure.test signed by it (PEM files)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "siteclass test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.test")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("secure.test")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, (cert_file, key_file)


def _ask_tls_site(model: Any, tmp_path: Any, proxy: str | None = None) -> tuple[Any, Any, int, Any, list[str | None]]:
    """Start an https site on 127.0.0.2 (a throwaway CA's certificate for secure.test only) and ask the app about
    https://secure.test and https://other.test (both resolve to it): (good, wrong, port, handler class whose
    ``seen`` records requests, the SNI names the handshakes asked for)."""
    import ssl

    ca_file, (cert_file, key_file) = _tls_material(tmp_path)
    sni_seen: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: sni_seen.append(name)  # type: ignore[assignment,func-returns-value]
    handler: Any = type("H", (_Handler,), {"routes": {
        "/": (200, {}, b"<html><title>Secure pipes</title><body><p>We fix pipes and drains.</p></body></html>"),
        "/robots.txt": (404, {}, b""),
    }, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    resolver = loopback_resolver({"secure.test": ["127.0.0.2"], "other.test": ["127.0.0.2"]})
    app = create_app(model, ServeSettings(allow_networks=["127.0.0.2/32"], proxy=proxy), resolver=resolver)
    app.state.serve.fetcher.verify = ssl.create_default_context(cafile=str(ca_file))

    async def go() -> tuple[Any, Any]:
        async with running(app) as c:
            good = await c.post("/v1/predict", json={"url": f"https://secure.test:{port}/"})
            wrong = await c.post("/v1/predict", json={"url": f"https://other.test:{port}/"})
            return good, wrong

    try:
        good, wrong = asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
    return good, wrong, port, handler, sni_seen


def test_https_is_pinned_with_the_name_in_sni_and_verified(keyword_model, tmp_path) -> None:
    good, wrong, port, handler, sni_seen = _ask_tls_site(keyword_model, tmp_path)
    assert good.status_code == 200 and good.json()["status"] == "ok", good.text
    assert "secure.test" in sni_seen  # the TLS handshake named the site, though the connection went to the IP
    assert (f"secure.test:{port}", "/") in handler.seen
    # a name the certificate does not cover fails verification: no page is read from it
    assert wrong.status_code == 200 and wrong.json()["status"] == "unreachable"
    assert not any(h.startswith("other.test") for h, _ in handler.seen)


# ----------------------------------------------------------------------------------------------- behind a proxy
@pytest.mark.parametrize("proxy_resolves", [False, True])
def test_every_vector_is_refused_without_a_connection_behind_a_proxy(keyword_model, listener: Listener,
                                                                     proxy_resolves: bool) -> None:
    """The proxy (a recording listener) gets no connection either, whether or not it is trusted to resolve."""
    proxy = Listener()
    resolver = loopback_resolver({"localhost": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "127.0.0.1"]})
    settings = ServeSettings(proxy=f"http://127.0.0.1:{proxy.port}", proxy_resolves=proxy_resolves)
    app = create_app(keyword_model, settings, resolver=resolver)

    async def go() -> None:
        async with running(app) as c:
            for url in _vectors(listener.port):
                r = await c.post("/v1/predict", json={"url": url})
                assert r.status_code == 400 and r.json()["error"] == "url_not_allowed", (url, r.text)
        await asyncio.sleep(0.3)

    try:
        asyncio.run(go())
    finally:
        proxy.close()
    assert app.state.serve.fetcher.requests_sent == 0
    assert proxy.accepted == [] and listener.accepted == []


class _ForwardProxy(BaseHTTPRequestHandler):
    """A forward proxy that records what it is asked (method, request target, Host) and forwards it: absolute-form
    GETs by http.client (keeping the Host header), CONNECT as a byte tunnel."""

    protocol_version = "HTTP/1.1"
    asked: list[tuple[str, str, str]] = []

    def log_message(self, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        self.asked.append(("GET", self.path, self.headers.get("Host") or ""))
        parts = urlsplit(self.path)
        upstream = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=5)
        upstream.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                         headers={"Host": self.headers.get("Host") or ""})
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for key in ("Content-Type", "Location"):
            if answer.getheader(key):
                self.send_header(key, answer.getheader(key) or "")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    def do_CONNECT(self) -> None:
        import select
        import socket

        self.asked.append(("CONNECT", self.path, self.headers.get("Host") or ""))
        host, port = self.path.rsplit(":", 1)
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        ends = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(ends, [], [], 5)
                if not ready:
                    break
                for end in ready:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.connection else self.connection).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()
            self.close_connection = True


@pytest.fixture
def forward_proxy() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    handler: Any = type("P", (_ForwardProxy,), {"asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.asked
    server.shutdown()
    server.server_close()


def test_behind_a_proxy_the_checked_address_is_sent_not_the_name(keyword_model, second_loopback,
                                                                 forward_proxy) -> None:
    """A proxy asked for a name would resolve it itself (and could get 127.0.0.1, as the rebinding resolver
    answers the second time): the proxy is asked for a tunnel to the address the guard approved, also for http
    (a proxy rebuilds ``Host`` from an absolute-form request target, so ``GET http://IP/`` would lose the name)."""
    _server, lst, handler = second_loopback
    proxy_url, asked = forward_proxy
    body, port, resolved = _ask_rebinding_site(keyword_model, second_loopback, proxy_url)
    assert body["status"] == "ok" and body["label"] == "plumbing", body
    assert [p["url"] for p in body["pages"]] == [f"http://pipes.example:{port}/", f"http://pipes.example:{port}/about"]
    # the proxy only relays bytes to the approved address; the name travels inside the tunnel (Host header)
    assert asked and {(m, t) for m, t, _ in asked} == {("CONNECT", f"127.0.0.2:{port}")}, asked
    assert {(f"pipes.example:{port}", p) for p in ("/robots.txt", "/", "/about")} <= set(handler.seen)
    assert resolved == 1 and lst.accepted == []


def test_https_behind_a_proxy_tunnels_to_the_address_with_the_name_in_sni(keyword_model, tmp_path,
                                                                          forward_proxy) -> None:
    proxy_url, asked = forward_proxy
    good, wrong, port, handler, sni_seen = _ask_tls_site(keyword_model, tmp_path, proxy_url)
    assert good.status_code == 200 and good.json()["status"] == "ok", good.text
    assert asked and all(m == "CONNECT" and t == f"127.0.0.2:{port}" for m, t, _ in asked), asked
    assert "secure.test" in sni_seen and (f"secure.test:{port}", "/") in handler.seen
    # the certificate does not cover other.test: TLS fails, is not retried (robots.txt + home: 2 tunnels)
    assert wrong.json()["status"] == "unreachable" and "TLS" in wrong.json()["error"], wrong.text
    assert len(asked) == 4 and not any(h.startswith("other.test") for h, _ in handler.seen)


def test_unicode_names_are_checked_and_sent_in_their_ascii_form() -> None:
    from siteclass.serve.guard import UrlGuard

    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"] if host == "xn--bcher-kva.example" else ["127.0.0.1"]

    target = asyncio.run(UrlGuard(resolver=resolver).check("http://Bücher.example/katalog"))
    assert asked == ["xn--bcher-kva.example"] and target.host_header == "xn--bcher-kva.example"
    assert target.ip == "93.184.216.34"


def test_a_dns_lookup_that_hangs_is_a_resolution_error_not_a_timeout_of_the_site() -> None:
    from siteclass.serve.guard import ResolutionError, UrlGuard

    async def hanging(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["93.184.216.34"]

    with pytest.raises(ResolutionError, match=r"did not resolve within 0\.1 s"):
        asyncio.run(UrlGuard(resolver=hanging, dns_timeout_s=0.1).check("http://slow-dns.example/"))


@pytest.mark.parametrize(("status", "marker", "tunnels"), [(403, "", 1), (503, "ERR_CONNECT_FAIL 111", 2)])
def test_a_proxy_that_refuses_the_tunnel(keyword_model, status: int, marker: str, tunnels: int) -> None:
    """403 (CONNECT to the port not allowed): unreachable at once, with what to change; Squid's ERR_CONNECT_FAIL
    (the site refused the proxy): a connection error, retried once ([crawl] retries)."""
    from siteclass.config import CrawlSettings, Settings

    asked: list[str] = []

    class Refusing(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_CONNECT(self) -> None:
            asked.append(self.path)
            self.send_response(status)
            if marker:
                self.send_header("X-Squid-Error", marker)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(serve=ServeSettings(allow_networks=["203.0.113.0/24"],
                                            proxy=f"http://127.0.0.1:{server.server_address[1]}"),
                        crawl=CrawlSettings(obey_robots=False))
    app = create_app(keyword_model, settings, resolver=loopback_resolver({"shop.example": ["203.0.113.7"]}))

    async def go() -> Any:
        async with running(app) as c:
            return await c.post("/v1/predict", json={"url": "http://shop.example/"})

    try:
        body = asyncio.run(go()).json()
    finally:
        server.shutdown()
        server.server_close()
    assert body["status"] == "unreachable", body
    assert asked == ["203.0.113.7:80"] * tunnels
    assert ("SSL_ports" in body["error"]) == (status == 403), body["error"]
