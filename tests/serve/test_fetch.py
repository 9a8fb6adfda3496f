"""POST /v1/predict fetching real local sites (LocalWeb on 127.0.0.1, reached with --allow-private semantics):
page choice by link rank, robots.txt, the failure statuses a 200 carries, the per-domain cache, the proxy modes
(names resolved here by default; ``proxy_resolves``; ``allow_private``) and the crawl's retry policy."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from serve_helpers import free_port, loopback_resolver, running

from siteclass.config import CrawlSettings, ServeSettings, Settings
from siteclass.demo.web import LocalWeb, Reply, redirect
from siteclass.serve.app import create_app
from siteclass.serve.fetch import GuardedFetcher
from siteclass.serve.guard import UrlGuard

HOME = """<html><head><title>Good Pipes</title></head><body><h1>Good Pipes</h1>
<p>We fix pipes, drains and leaks for homes.</p>
<a href="/blog/post-1">Blog</a> <a href="/contact">Contact</a> <a href="/about-us">About us</a>
<a href="/services">Our services</a> <a href="http://elsewhere.test/">Partner</a></body></html>"""


def page(title: str, text: str) -> str:
    return f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>"


@pytest.fixture(scope="module")
def web() -> Iterator[LocalWeb]:
    w = LocalWeb()
    w.add_site("good.test", {
        "/": HOME, "/about-us": page("About", "Family plumbing company since 1990, boilers and pipes."),
        "/services": page("Services", "Drain cleaning, pipe repair, water heaters."),
        "/contact": page("Contact", "Call us"), "/blog/post-1": page("Blog", "news"),
        "/robots.txt": Reply("User-agent: *\nDisallow: /blog/\n", content_type="text/plain"),
    })
    w.add_site("robots.test", {"/": HOME, "/robots.txt": Reply("User-agent: *\nDisallow: /\n", content_type="text/plain")})
    w.add_site("broken.test", {"/": Reply("oops", status=500)})
    w.add_site("pdf.test", {"/": Reply(b"%PDF-1.4", content_type="application/pdf")})
    w.add_site("loop.test", {"/": redirect("/a"), "/a": redirect("/")})
    w.add_site("slow.test", {"/": Reply(chunks=[b"<html><body>" + b"x" * 100] * 20, delay_s=0.3)})
    w.add_site("big.test", {"/": "<html><body>" + "pipes " * 20000 + "</body></html>"})
    w.add_site("empty.test", {"/": "<html><body></body></html>"})
    with w:
        yield w


def _settings() -> Settings:
    return Settings(
        serve=ServeSettings(allow_private=True, fetch_timeout_s=2.0),
        crawl=CrawlSettings(max_pages=3, max_bytes=50_000, page_timeout_s=2.0),
    )


def test_live_predict_fetches_the_best_ranked_pages_and_caches(keyword_model, web: LocalWeb) -> None:
    app = create_app(keyword_model, _settings(), resolver=loopback_resolver())
    base = f"http://good.test:{web.port}"

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with running(app) as c:
            first = (await c.post("/v1/predict", json={"url": f"good.test:{web.port}", "name": "Good Pipes"})).json()
            second = (await c.post("/v1/predict", json={"url": base + "/", "name": "good pipes"})).json()
            return first, second

    web.clear()
    first, second = asyncio.run(go())
    assert first["status"] == "ok", first
    assert first["label"] == "plumbing"
    assert [p["url"] for p in first["pages"]] == [base + "/", base + "/about-us", base + "/services"]
    assert first["pages"][1]["title"] == "About"
    assert "/blog/post-1" not in web.paths_for("good.test")  # robots.txt disallows it, and it ranks last
    assert web.requests_for("good.test")[0].headers.get("User-Agent", "").startswith("siteclass/")
    assert second["cached"] is True and second["label"] == first["label"]
    assert web.paths_for("good.test").count("/") == 1


@pytest.mark.parametrize(
    ("host", "status"),
    [("robots.test", "blocked_by_robots"), ("broken.test", "http_error"), ("pdf.test", "not_html"),
     ("loop.test", "redirect_loop"), ("slow.test", "timeout"), ("big.test", "too_large"),
     ("empty.test", "empty"), ("nowhere.invalid", "dns_error"), ("closed.test", "unreachable")],
)
def test_a_site_that_cannot_be_read_is_a_200_with_its_status(keyword_model, web: LocalWeb, host: str,
                                                             status: str) -> None:
    app = create_app(keyword_model, _settings(), resolver=loopback_resolver())
    port = free_port() if host == "closed.test" else web.port

    async def go() -> Any:
        async with running(app) as c:
            return await c.post("/v1/predict", json={"url": f"http://{host}:{port}/"})

    r = asyncio.run(go())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == status, body
    assert body["industries"] == [] and body["label"] is None
    assert body["error"]


def _proxied(web: LocalWeb, **serve: Any) -> Settings:
    return Settings(serve=ServeSettings(proxy=web.proxy_url, fetch_timeout_s=5.0, **serve),
                    crawl=CrawlSettings(max_pages=1, page_timeout_s=2.0))


def test_behind_a_proxy_names_must_resolve_here_by_default(keyword_model, web: LocalWeb) -> None:
    """The proxy is sent checked addresses only: a name this machine cannot resolve is a dns_error, not a name
    handed to the proxy to resolve (which could answer 127.0.0.1)."""
    web.add_site("via-proxy.example", {"/": HOME})
    app = create_app(keyword_model, _proxied(web), resolver=loopback_resolver())

    async def go() -> Any:
        async with running(app) as c:
            return await c.post("/v1/predict", json={"url": "via-proxy.example"})

    web.clear()
    r = asyncio.run(go())
    assert r.status_code == 200 and r.json()["status"] == "dns_error", r.text
    assert "proxy_resolves" in r.json()["error"]
    assert web.requests == [] and app.state.serve.fetcher.requests_sent == 0


def test_proxy_resolves_hands_unresolvable_names_to_the_proxy(keyword_model, web: LocalWeb) -> None:
    web.add_site("via-proxy.example", {"/": HOME})
    web.add_unreachable("refusing.example")
    app = create_app(keyword_model, _proxied(web, proxy_resolves=True), resolver=loopback_resolver())

    async def go() -> list[Any]:
        async with running(app) as c:
            urls = ["via-proxy.example", "http://10.1.2.3/", "http://internal.test/", "http://unknown.example/",
                    "https://unknown.example/", "http://refusing.example/"]  # internal.test: 127.0.0.1 here
            return [await c.post("/v1/predict", json={"url": u}) for u in urls]

    web.clear()
    ok, refused, inside, unknown, unknown_tls, refusing = asyncio.run(go())
    assert ok.status_code == 200 and ok.json()["status"] == "ok" and ok.json()["label"] == "plumbing"
    assert web.requests_for("via-proxy.example")[-1].url == "http://via-proxy.example/"
    assert refused.status_code == 400 and inside.status_code == 400  # still checked where they resolve here
    assert not web.requests_for("10.1.2.3") and not web.requests_for("internal.test")
    # the proxy's Squid-style answers: DNS failure (also in a refused CONNECT) and a refused connection
    assert unknown.json()["status"] == "dns_error" and unknown_tls.json()["status"] == "dns_error", unknown_tls.text
    assert refusing.json()["status"] == "unreachable" and "reported by the proxy" in refusing.json()["error"]
    assert web.paths_for("refusing.example").count("/") == 2  # a refused connection is retried ([crawl] retries)


def test_allow_private_behind_a_proxy_sends_names(keyword_model, web: LocalWeb) -> None:
    web.add_site("intranet.example", {"/": HOME})
    app = create_app(keyword_model, _proxied(web, allow_private=True), resolver=loopback_resolver())

    async def go() -> Any:
        async with running(app) as c:
            return await c.post("/v1/predict", json={"url": "intranet.example"})

    assert asyncio.run(go()).json()["status"] == "ok"
    assert web.requests_for("intranet.example")[-1].url == "http://intranet.example/"


# ----------------------------------------------------------------------------------------------- retries
def _failing(n: int, status: int) -> Any:
    """A route that answers *status* the first *n* times, then the home page."""
    calls = itertools.count()
    return lambda record: Reply("busy", status=status) if next(calls) < n else Reply(HOME)


class _DroppingServer:
    """An HTTP endpoint on 127.0.0.1 that drops the first *n* connections unanswered, then serves HOME."""

    def __init__(self, n: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.remaining, self.connections = n, 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    if self.remaining > 0:
                        self.remaining -= 1
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                        continue
                    body = HOME.encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def _fetch(url: str, retries: int, fetch_timeout_s: float = 5.0, page_timeout_s: float = 2.0) -> tuple[Any, int]:
    settings = Settings(serve=ServeSettings(allow_private=True, fetch_timeout_s=fetch_timeout_s),
                        crawl=CrawlSettings(max_pages=1, retries=retries, obey_robots=False,
                                            page_timeout_s=page_timeout_s))
    fetcher = GuardedFetcher.from_settings(settings, UrlGuard.from_settings(settings.serve, settings.crawl,
                                                                              resolver=loopback_resolver()))

    async def go() -> Any:
        try:
            return await fetcher.fetch_site(url)
        finally:
            await fetcher.aclose()

    return asyncio.run(go()), fetcher.requests_sent


@pytest.mark.parametrize(("status", "retried"), [(503, True), (429, True), (408, True), (500, True), (404, False),
                                                 (403, False)])
def test_retries_follow_the_crawl_policy(web: LocalWeb, status: int, retried: bool) -> None:
    host = f"retry-{status}.test"
    web.add(host, "/", _failing(2, status))
    site, sent = _fetch(f"http://{host}:{web.port}/", retries=2)
    if retried:
        assert site.status == "ok" and site.pages[0]["title"] == "Good Pipes", site
        assert web.paths_for(host) == ["/", "/", "/"] and sent == 3
    else:
        assert site.status == "http_error" and f"HTTP {status}" in site.error
        assert web.paths_for(host) == ["/"] and sent == 1


def test_retries_give_up_after_the_crawl_retry_count(web: LocalWeb) -> None:
    web.add("still-busy.test", "/", _failing(2, 503))
    site, sent = _fetch(f"http://still-busy.test:{web.port}/", retries=1)
    assert site.status == "http_error" and "HTTP 503" in site.error and "after 1 retry" in site.error
    assert web.paths_for("still-busy.test") == ["/", "/"] and sent == 2


@pytest.mark.parametrize(("drops", "status"), [(1, "ok"), (2, "unreachable")])
def test_a_dropped_connection_is_retried(drops: int, status: str) -> None:
    server = _DroppingServer(drops)
    try:
        site, sent = _fetch(f"http://drop.test:{server.port}/", retries=1)
    finally:
        server.sock.close()
    assert site.status == status, site
    assert server.connections == 2 and sent == 2
    if status == "unreachable":
        assert "after 1 retry" in site.error


def test_timeouts_are_not_retried_and_retries_stay_inside_the_site_deadline(web: LocalWeb) -> None:
    web.add("trickle.test", "/", Reply(chunks=[b"<html><body>" + b"x" * 100] * 20, delay_s=0.2))
    site, sent = _fetch(f"http://trickle.test:{web.port}/", retries=3, page_timeout_s=0.5)
    assert site.status == "timeout" and sent == 1
    web.add("always-busy.test", "/", Reply("busy", status=503))
    site, sent = _fetch(f"http://always-busy.test:{web.port}/", retries=10, fetch_timeout_s=1.0)
    # 10 retries would need 5.5 s of backoff: the ones that cannot end before the 1 s deadline are not started,
    # and the last answer is reported rather than a timeout
    assert site.status == "http_error" and "HTTP 503" in site.error
    assert 2 <= sent < 11 and len(web.paths_for("always-busy.test")) == sent


def test_a_retry_cut_short_by_the_site_deadline_is_named(web: LocalWeb) -> None:
    calls = itertools.count()
    slow = Reply(chunks=[b"<html><body>" + b"x" * 100] * 20, delay_s=0.3)
    web.add("busy-then-slow.test", "/", lambda record: Reply("busy", status=503) if next(calls) == 0 else slow)
    site, sent = _fetch(f"http://busy-then-slow.test:{web.port}/", retries=1, fetch_timeout_s=1.0)
    assert site.status == "timeout" and sent == 2
    assert "retrying after: HTTP 503 from http://busy-then-slow.test" in site.error, site.error


def test_a_proxy_the_live_fetch_cannot_tunnel_through_is_refused_at_startup() -> None:
    from siteclass.errors import InputError

    with pytest.raises(InputError, match="socks5"):
        GuardedFetcher(UrlGuard(), proxy="socks5://127.0.0.1:1080")


@pytest.mark.parametrize("extractor", ["fast", "exact"])
def test_the_live_fetch_extracts_pages_as_the_crawl_is_configured_to(extractor: str) -> None:
    settings = Settings(crawl=CrawlSettings(extractor=extractor))
    fetcher = GuardedFetcher.from_settings(settings, UrlGuard.from_settings(settings.serve, settings.crawl))
    assert fetcher.extractor == extractor
