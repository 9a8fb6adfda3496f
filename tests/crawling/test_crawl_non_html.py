"""Responses that are not HTML: refused without reading them whole, and without disturbing the connection pool.

Regression: the spider used to stop such downloads with Scrapy's StopDownload. When a small body arrived in the
same read as its headers, the half-closed connection went back to Twisted's pool; the next request written to it
reached the server, its answer was never read, and Twisted sent it again on a new connection. Every page here
must be requested exactly once.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pandas as pd
import pytest
from crawl_helpers import TEST_SETTINGS
from fixtures_web import fails_once, page

from siteclass.crawling.runner import crawl
from siteclass.crawling.spider import NOT_HTML_READ_BYTES
from siteclass.demo.web import LocalWeb, Reply

DOCS_SITES = [f"tiny-docs-{i}.com" for i in range(4)]
BIG_PDF, CHUNKED_PDF, RETRY_BIG = "big-pdf-home.com", "chunked-pdf-home.com", "retry-then-big.com"
BIG_BYTES = 1_000_000


@pytest.fixture(scope="module")
def non_html_crawl(fixture_web: LocalWeb, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    web = fixture_web
    for host in DOCS_SITES:  # 15 tiny PDFs (no extension: requested) between 15 HTML pages
        links = " ".join(f"<a href='/doc/{i}'>About doc {i}</a> <a href='/about-{i}'>About {i}</a>" for i in range(15))
        pages: dict[str, object] = {"/": page(f"Docs {host}", "home words " * 50, links)}
        for i in range(15):
            pages[f"/doc/{i}"] = Reply(b"%PDF-1.4 tiny", content_type="application/pdf")
            pages[f"/about-{i}"] = page(f"About {i}", "about words " * 50)
        web.add_site(host, pages)  # type: ignore[arg-type]
    web.add(BIG_PDF, "/", Reply(b"%PDF-1.4 " + b"0" * BIG_BYTES, content_type="application/pdf"))
    web.add(CHUNKED_PDF, "/", Reply(chunks=[b"%PDF-1.4 " + b"0" * 65_536] * 16, content_type="application/pdf"))
    big_html = page("Big Home", "engineering services " * (BIG_BYTES // 21))
    web.add(RETRY_BIG, "/", fails_once(Reply("busy", status=503, content_type="text/plain"), Reply(big_html)))
    hosts = [*DOCS_SITES, BIG_PDF, CHUNKED_PDF, RETRY_BIG]
    out = tmp_path_factory.mktemp("non-html")
    crawl([{"id": h, "url": h, "name": ""} for h in hosts], Path(out), proxy=web.proxy_url, progress=False,
          **{**TEST_SETTINGS, "max_pages": 40, "concurrent_per_domain": 4})
    return pd.read_parquet(out / "sites.parquet").set_index("site_id"), pd.read_parquet(out / "pages.parquet")


def test_every_page_requested_once(non_html_crawl: tuple[pd.DataFrame, pd.DataFrame], fixture_web: LocalWeb) -> None:
    sites, pages = non_html_crawl
    for host in DOCS_SITES:
        assert sites.loc[host, "status"] == "ok"
        seen = collections.Counter(r.path for r in fixture_web.requests_for(host) if r.path != "/robots.txt")
        assert set(seen) == {"/", "/privacy", *(f"/doc/{i}" for i in range(15)), *(f"/about-{i}" for i in range(15))}
        assert max(seen.values()) == 1, {p: n for p, n in seen.items() if n > 1}
        stored = set(pages[pages.site_id == host].path)
        assert stored == {"/", *(f"/about-{i}" for i in range(15))}  # the PDFs refused, every HTML page kept


@pytest.mark.parametrize("host", [BIG_PDF, CHUNKED_PDF])
def test_big_non_html_home_refused_early(non_html_crawl: tuple[pd.DataFrame, pd.DataFrame], fixture_web: LocalWeb,
                                        host: str) -> None:
    sites, _ = non_html_crawl
    assert sites.loc[host, "status"] == "not_html", sites.loc[host, "error"]
    assert "application/pdf" in sites.loc[host, "error"]
    assert [r.path for r in fixture_web.requests_for(host) if r.path != "/robots.txt"] == ["/"]
    assert NOT_HTML_READ_BYTES < BIG_BYTES


def test_retried_request_reads_its_own_answer_whole(non_html_crawl: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The 503 in text/plain caps the first answer; the retry (same meta) must still read a big HTML page."""
    sites, pages = non_html_crawl
    assert sites.loc[RETRY_BIG, "status"] == "ok", sites.loc[RETRY_BIG, "error"]
    home = pages[pages.site_id == RETRY_BIG].iloc[0]
    assert home.title == "Big Home" and home.bytes > NOT_HTML_READ_BYTES
