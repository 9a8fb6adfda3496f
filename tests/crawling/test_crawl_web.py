"""One real Scrapy crawl (child process, real sockets) of the fixture web; assertions on what the proxy saw,
what was stored and what was refused."""

from __future__ import annotations

import collections
import re
import tomllib
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from crawl_helpers import EXPECTED, TEST_SETTINGS, MainCrawl
from fixtures_web import HOSTS

from siteclass.crawling.items import PAGE_SCHEMA, RAW_SCHEMA, SITE_SCHEMA


def test_every_input_has_exactly_one_site_row(main_crawl: MainCrawl) -> None:
    ids = list(main_crawl.sites.site_id)
    n_demo = sum(i.startswith("demo-") for i in ids)
    assert len(ids) == len(set(ids)) == len(EXPECTED) + len(main_crawl.real_hosts) + n_demo
    assert ids[: len(EXPECTED)] == list(EXPECTED)  # input order kept
    assert main_crawl.result.n_sites == len(ids)


@pytest.mark.parametrize("site_id", list(EXPECTED))
def test_site_status(main_crawl: MainCrawl, site_id: str) -> None:
    row = main_crawl.site(site_id)
    assert row["status"] == EXPECTED[site_id][1], row["error"]
    if row["status"] == "ok":
        assert row["error"] == ""
        assert row["pages"] == len(main_crawl.pages_of(site_id)) >= 1
    else:
        assert len(row["error"]) > 10 and row["pages"] == 0
        assert main_crawl.pages_of(site_id).empty


def test_output_schemas_and_settings(main_crawl: MainCrawl) -> None:
    out = main_crawl.out
    assert pq.read_schema(out / "sites.parquet").remove_metadata() == SITE_SCHEMA
    assert pq.read_schema(out / "pages.parquet").remove_metadata() == PAGE_SCHEMA
    assert pq.read_schema(out / "raw.parquet").remove_metadata() == RAW_SCHEMA
    saved = tomllib.loads((out / "settings.toml").read_text())
    assert saved["crawl"]["page_timeout_s"] == TEST_SETTINGS["page_timeout_s"]
    assert saved["crawl"]["proxy"] == main_crawl.web.proxy_url
    assert not (out / "parts").exists() or not list((out / "parts").iterdir())


def test_home_first_then_best_ranked(main_crawl: MainCrawl) -> None:
    assert main_crawl.paths(HOSTS.ranked, robots=True) == [
        "/robots.txt", "/", "/about-us", "/what-we-do", "/services", "/products/",
    ]
    pages = main_crawl.pages_of("ranked")
    assert list(pages.path) == ["/", "/about-us", "/what-we-do", "/services", "/products/"]
    assert list(pages.order) == [1, 2, 3, 4, 5]
    assert list(pages["rank"]) == [0, 1, 2, 2, 3]
    assert list(pages.depth) == [0, 1, 1, 1, 1]
    assert list(pages.click_text) == ["", "About us", "What we do", "Services", "Our range"]
    assert set(pages.domain) == {HOSTS.ranked}


def test_refused_links_never_fetched(main_crawl: MainCrawl) -> None:
    paths = main_crawl.paths(HOSTS.ranked)
    for never in ("/careers", "/privacy", "/blog/2023/summer-news", "/brochure.pdf", "/contact", "/team"):
        assert never not in paths
    assert not any("#" in p for p in paths)
    assert main_crawl.web.requests_for("elsewhere-external.com") == []


def test_stored_page_content(main_crawl: MainCrawl) -> None:
    home = main_crawl.pages_of("ranked").iloc[0]
    assert home.title == "Ranked Widgets"
    assert home.meta_description == "Ranked Widgets description"
    assert home.lang == "en" and home.status == 200 and home.content_type.startswith("text/html")
    assert "widgets quality" in home.text
    assert "<" not in home.text and "Careers" not in home.text and "Copyright" not in home.text  # nav/footer
    assert home.fetched_at.tzinfo is not None and home.bytes > 500
    raw = main_crawl.raw[main_crawl.raw.site_id == "ranked"]
    assert set(raw.url) == set(main_crawl.pages_of("ranked").url)
    assert all("<html" in h for h in raw.html)


def test_www_redirect_is_the_same_site(main_crawl: MainCrawl) -> None:
    row = main_crawl.site("www_bare")
    assert row["final_url"] == f"http://www.{HOSTS.www_bare}/"
    assert set(main_crawl.pages_of("www_bare").path) == {"/", "/about", "/services"}
    # the link back to the bare host counted as internal: it was followed through its redirect
    assert "/services" in main_crawl.paths(HOSTS.www_bare)


def test_redirect_chain_domains_count_as_the_site(main_crawl: MainCrawl) -> None:
    urls = list(main_crawl.pages_of("chain").url)
    assert urls[0] == "http://www.chain-end.org/start"
    assert set(urls) == {"http://www.chain-end.org/start", "http://chain-start.com/about",
                         "http://www.chain-end.org/services"}


def test_redirect_loop_and_long_chain(main_crawl: MainCrawl) -> None:
    assert "loop" in main_crawl.site("loop")["error"]
    assert main_crawl.paths(HOSTS.loop) == ["/", "/a"]
    assert "more than 5 redirects" in main_crawl.site("long_chain")["error"]
    assert main_crawl.paths(HOSTS.long_chain) == ["/", "/r1", "/r2", "/r3", "/r4", "/r5"]


def test_robots_txt(main_crawl: MainCrawl) -> None:
    paths = main_crawl.paths(HOSTS.robots, robots=True)
    assert paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1
    assert not any(p.startswith("/private") for p in paths)
    assert "/services" in set(main_crawl.pages_of("robots").path)
    assert main_crawl.paths(HOSTS.robots_all, robots=True) == ["/robots.txt"]
    assert "robots.txt" in main_crawl.site("robots_all")["error"]
    # a robots.txt that fails to load allows crawling
    assert main_crawl.paths(HOSTS.robots_broken)[0] == "/"
    assert list(main_crawl.pages_of("robots_broken").path) == ["/"]


def test_identifiable_user_agent(main_crawl: MainCrawl) -> None:
    agents = {r.headers.get("User-Agent", "") for r in main_crawl.requests(HOSTS.ranked)}
    assert len(agents) == 1 and re.match(r"siteclass/\S+ \(\+https?://", agents.pop())


def test_charsets(main_crawl: MainCrawl) -> None:
    cafe = main_crawl.pages_of("cp1252").iloc[0]
    assert cafe.title == "Café Crème" and "“quotes” and ‘more’" in cafe.text and "\ufffd" not in cafe.text
    assert cafe.url.startswith("https://")  # served through a CONNECT tunnel
    meta = main_crawl.pages_of("cp1252_meta").iloc[0]
    assert meta.title == "Crème brûlée" and "Déjà vu — façade" in meta.text
    sjis = main_crawl.pages_of("sjis").iloc[0]
    assert sjis.title == "株式会社日本商事" and "私たちについて" in sjis.text and sjis.lang == "ja"


def test_size_caps(main_crawl: MainCrawl) -> None:
    for sid in ("huge", "bomb", "br_bomb"):
        assert "byte cap" in main_crawl.site(sid)["error"]
    assert main_crawl.paths(HOSTS.huge) == ["/"]  # not retried
    assert set(main_crawl.pages_of("huge_sub").path) == {"/", "/services"}
    assert "/about" in main_crawl.paths(HOSTS.huge_sub)


def test_trickling_page_hits_the_page_deadline(main_crawl: MainCrawl) -> None:
    row = main_crawl.site("slow")
    assert "within 3 s" in row["error"]
    assert main_crawl.paths(HOSTS.slow) == ["/"]  # timeouts are not retried
    assert row["elapsed_s"] < 6 * TEST_SETTINGS["page_timeout_s"]


def test_non_html_refused(main_crawl: MainCrawl) -> None:
    paths = main_crawl.paths(HOSTS.pdf)
    assert "/files/catalog.pdf" not in paths  # known extension: never requested
    assert "/download/catalog" in paths  # requested, then refused on its Content-Type
    assert list(main_crawl.pages_of("pdf").path) == ["/"]
    assert "application/pdf" in main_crawl.site("pdf_home")["error"]


def test_retries_only_once_on_5xx(main_crawl: MainCrawl) -> None:
    about = [r.status for r in main_crawl.requests(HOSTS.flaky) if r.path == "/about-us"]
    assert about == [500, 200]
    about = main_crawl.pages_of("flaky").iloc[1]
    assert about.path == "/about-us" and about.status == 200
    assert main_crawl.paths(HOSTS.down) == ["/", "/"]
    assert main_crawl.paths(HOSTS.notfound) == ["/"]
    assert "HTTP 503" in main_crawl.site("down")["error"]


def test_no_page_requested_twice(main_crawl: MainCrawl) -> None:
    """Apart from the 5xx retries above, the crawl asks for every URL once (robots.txt aside: a redirected
    robots.txt is fetched again for the new host)."""
    urls = [*main_crawl.sites.final_url, *main_crawl.pages.url]
    hosts = {urlsplit(u).hostname for u in urls if u} | set(vars(HOSTS).values())  # other tests share the web
    retried = {(HOSTS.flaky, "/about-us"), (HOSTS.down, "/")}
    seen = collections.Counter(
        (r.host, r.path) for r in main_crawl.web.requests if r.method != "CONNECT" and r.host in hosts
    )
    twice = {key: n for key, n in seen.items() if n > 1 and key not in retried and key[1] != "/robots.txt"}
    assert not twice, twice


def test_network_failures(main_crawl: MainCrawl) -> None:
    unknown, unreachable = main_crawl.site("unknown"), main_crawl.site("unreachable")
    assert HOSTS.unknown in unknown["error"], unknown
    assert "refused" in unreachable["error"], unreachable
    requests = [(r.method, r.path, r.status) for r in main_crawl.web.requests_for(HOSTS.unknown)]
    assert [p for m, p, _ in requests if p != "/robots.txt"] == ["/"], requests  # a DNS failure is not retried


@pytest.mark.realdata
def test_real_pages(main_crawl: MainCrawl, real_pages: list) -> None:
    hosts = main_crawl.real_hosts
    assert len(hosts) >= 20
    rows = main_crawl.sites[main_crawl.sites.site_id.str.startswith("real")]
    assert len(rows) == len(hosts)
    assert (rows.status == "ok").mean() >= 0.9
    homes = main_crawl.pages[main_crawl.pages.site_id.isin(rows.site_id) & (main_crawl.pages.order == 1)]
    assert (homes.title.str.len() > 0).mean() >= 0.9
    assert (homes.text.str.len() > 200).mean() >= 0.9
    # no markup left (a page may quote escaped HTML in its text, hence the tolerance)
    assert homes.text.str.contains(r"<(?:div|span|a|p|li)\b", regex=True).mean() <= 0.1
    assert not homes.text.str.contains(r"<(?:script|style)\b|</div>", regex=True).any()
    assert not homes.text.str.contains("\ufffd").any()
    # links were followed on the same host only: the saved pages' absolute links are never contacted
    from siteclass.crawling.extract import extract_page
    from siteclass.crawling.urls import host_of

    raw = main_crawl.raw[main_crawl.raw.site_id.isin(rows.site_id)]
    linked = {host_of(u) for html, url in zip(raw.html, raw.url) for u, _ in extract_page(html, url).links}
    contacted = {r.host for r in main_crawl.web.requests}
    assert len(linked - set(hosts)) > 50
    assert not (linked - set(hosts)) & contacted


def test_demo_sites_crawl(main_crawl: MainCrawl) -> None:
    demo = main_crawl.sites[main_crawl.sites.site_id.str.startswith("demo-")]
    assert len(demo) >= 3
    assert set(demo.status) == {"ok"}, demo[["site_id", "error"]].to_dict("records")
    assert (demo.pages >= 3).all()
