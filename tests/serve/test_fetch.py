"""POST /v1/predict fetching real local sites (LocalWeb on 127.0.0.1, reached with --allow-private semantics):
page choice by link rank, robots.txt, and the failure statuses a 200 carries, plus the per-domain cache."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import free_port, loopback_resolver, running

from siteclass.config import CrawlSettings, ServeSettings, Settings
from siteclass.crawl.localweb import LocalWeb, Reply, redirect
from siteclass.serve.app import create_app

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


def test_through_a_proxy_the_proxy_resolves_names(keyword_model, web: LocalWeb) -> None:
    web.add_site("via-proxy.example", {"/": HOME})
    settings = Settings(serve=ServeSettings(proxy=web.proxy_url), crawl=CrawlSettings(max_pages=1))
    app = create_app(keyword_model, settings, resolver=loopback_resolver())

    async def go() -> Any:
        async with running(app) as c:
            ok = await c.post("/v1/predict", json={"url": "via-proxy.example"})
            refused = await c.post("/v1/predict", json={"url": "http://10.1.2.3/"})
            inside = await c.post("/v1/predict", json={"url": "http://internal.test/"})  # resolves to 127.0.0.1
            return ok, refused, inside

    ok, refused, inside = asyncio.run(go())
    assert ok.status_code == 200 and ok.json()["status"] == "ok" and ok.json()["label"] == "plumbing"
    assert web.requests_for("via-proxy.example")[-1].url == "http://via-proxy.example/"
    assert refused.status_code == 400 and inside.status_code == 400
