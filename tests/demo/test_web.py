"""LocalWeb on its own: folder and route serving, the DNS-failure answer, https tunnels, the request log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from siteclass.crawling.failures import DNS_FAIL_HEADER
from siteclass.demo.web import LocalWeb, Reply, redirect


@pytest.fixture
def web(tmp_path: Path) -> LocalWeb:
    site = tmp_path / "acme.com"
    (site / "team").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "about.html").write_text("<h1>about</h1>")
    (site / "team" / "index.html").write_text("<h1>team</h1>")
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /x\n")
    web = LocalWeb(tmp_path)
    web.add("acme.com", "/old", redirect("/about"))
    web.add("other.org", "/", Reply("<p>other</p>", headers={"X-Test": "1"}))
    web.add_unreachable("down.net")
    with web:
        yield web


def test_serves_folders_and_routes_by_host(web: LocalWeb) -> None:
    with httpx.Client(proxy=web.proxy_url, verify=False) as client:
        assert client.get("http://acme.com/").text == "<h1>home</h1>"
        assert client.get("http://acme.com/about").text == "<h1>about</h1>"
        assert client.get("http://acme.com/team").text == "<h1>team</h1>"
        robots = client.get("http://acme.com/robots.txt")
        assert robots.headers["content-type"].startswith("text/plain") and "Disallow" in robots.text
        assert client.get("http://acme.com/missing").status_code == 404
        moved = client.get("http://acme.com/old")
        assert moved.status_code == 301 and moved.headers["location"] == "/about"
        other = client.get("https://other.org/")  # CONNECT tunnel, TLS terminated by LocalWeb
        assert other.text == "<p>other</p>" and other.headers["x-test"] == "1"
        unknown = client.get("http://nowhere.example/")
        assert unknown.status_code == 502 and "ERR_DNS_FAIL" in unknown.headers[DNS_FAIL_HEADER]
        down = client.get("http://down.net/")
        assert down.status_code == 503 and "ERR_CONNECT_FAIL" in down.headers[DNS_FAIL_HEADER]
    log = [(r.method, r.host, r.path, r.status) for r in web.requests]
    assert ("GET", "acme.com", "/about", 200) in log
    assert ("GET", "other.org", "/", 200) in log  # the request inside the tunnel (the CONNECT is not logged)
    assert web.paths_for("nowhere.example") == ["/"]
    assert next(r for r in web.requests if r.host == "other.org" and r.method == "GET").url == "https://other.org/"


def test_start_is_idempotent(web: LocalWeb) -> None:
    port = web.port
    assert web.start() is web and web.port == port
