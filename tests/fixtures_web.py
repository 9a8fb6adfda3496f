"""The fixture web: a LocalWeb forward proxy on 127.0.0.1 with named misbehaving sites (shared by test folders).

Use it from any conftest.py::

    from fixtures_web import fixture_web  # noqa: F401  (session-scoped, started once)

and crawl with ``proxy=fixture_web.proxy_url``. ``HOSTS`` names the sites; ``add_real_pages`` serves saved real
pages (../shared/data/real_pages) as sites. Hosts are unique per scenario: filter ``web.requests`` by host.
"""

from __future__ import annotations

import gzip
import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from siteclass.demo.web import LocalWeb, Reply, RequestRecord, redirect

HOSTS = SimpleNamespace(
    ranked="ranked-widgets.com",            # home + links of every rank, fragments, externals, duplicates
    www_bare="wwwredirect.com",             # bare host 301 → www.
    chain="chain-start.com",                # 301 → chain-middle.net → www.chain-end.org/start (3 domains, one site)
    loop="loop-redirect.com",               # / → /a → / …
    long_chain="long-chain.com",            # 7 redirects (> 5)
    robots="robots-partial.com",            # robots.txt disallows /private
    robots_all="robots-all.com",            # robots.txt disallows everything
    robots_broken="robots-broken.com",      # robots.txt answers 500: crawling allowed
    cp1252="latin-cafe.com",                # windows-1252 via Content-Type header
    cp1252_meta="latin-meta.com",           # windows-1252 via <meta charset>, no header charset
    sjis="nihon-shoji.jp",                  # Shift_JIS via <meta>
    huge="huge-home.com",                   # home page of 20 MB
    huge_sub="huge-sub.com",                # fine home, a 20 MB sub-page
    bomb="gzip-bomb.com",                   # gzip: 20 kB on the wire, 50 MB decompressed
    br_bomb="brotli-bomb.com",              # the same with brotli
    slow="slow-trickle.com",                # home trickles bytes forever
    pdf="pdf-links.com",                    # links a .pdf (never fetched) and a PDF without extension (refused)
    pdf_home="pdf-home.com",                # the home page is a PDF
    flaky="flaky-500.com",                  # /about-us: 500 then 200
    down="always-503.com",                  # home always 503
    notfound="gone-404.com",                # home 404
    empty="empty-home.com",                 # home with no text
    unreachable="refused-conn.com",         # server refuses connections
    unknown="no-such-host-anywhere.com",    # not served: DNS failure
)

BIG = 20 * 1024 * 1024


def page(title: str, body: str, links: str = "", lang: str = "en", head: str = "") -> str:
    return (
        f"<!doctype html><html lang='{lang}'><head><title>{title}</title>"
        f"<meta name='description' content='{title} description'>{head}</head><body>"
        f"<nav>{links}</nav><main><h1>{title}</h1><p>{body}</p></main>"
        f"<footer>Copyright 2024 - <a href='/privacy'>Privacy policy</a></footer></body></html>"
    )


def _words(topic: str, n: int = 40) -> str:
    return " ".join(f"{topic} {w}" for w in itertools.islice(itertools.cycle(["quality", "service", "local"]), n))


RANKED_LINKS = (
    "<a href='/blog/2023/summer-news'>Summer news</a> <a href='/careers'>Careers</a> "
    "<a href='/privacy'>Privacy</a> <a href='/products/'>Our range</a> <a href='/about-us#history'>About us</a> "
    "<a href='/team'>Meet the team</a> <a href='/what-we-do'>What we do</a> <a href='/services'>Services</a> "
    "<a href='http://elsewhere-external.com/about'>Partner</a> <a href='#top'>Top</a> "
    "<a href='mailto:info@ranked-widgets.com'>Mail</a> <a href='/about-us'>About again</a> "
    "<a href='/contact'>Contact</a> <a href='/brochure.pdf'>Brochure</a>"
)


def _trickle(record: RequestRecord) -> Reply:
    def chunks() -> Iterator[bytes]:
        yield b"<html><head><title>Slow</title></head><body>"
        while True:
            yield b"."

    return Reply(chunks=chunks(), delay_s=0.2)


def fails_once(first: Reply, then: Reply) -> Callable[[RequestRecord], Reply]:
    """A handler that answers *first* to the first request, *then* to every later one."""
    calls = {"n": 0}
    lock = threading.Lock()

    def handler(record: RequestRecord) -> Reply:
        with lock:
            calls["n"] += 1
            is_first = calls["n"] == 1
        return first if is_first else then

    return handler


def build_fixture_web() -> LocalWeb:
    """A LocalWeb (not started) with every named site of ``HOSTS``."""
    h = HOSTS
    web = LocalWeb()
    pages = {
        "/": page("Ranked Widgets", _words("widgets"), RANKED_LINKS),
        "/about-us": page("About Ranked Widgets", _words("history")),
        "/what-we-do": page("What we do", _words("manufacturing")),
        "/services": page("Services", _words("repair")),
        "/products/": page("Products", _words("widget catalogue")),
        "/team": page("Team", _words("people")),
        "/careers": page("Careers", _words("jobs")),
        "/blog/2023/summer-news": page("News", _words("news")),
        "/contact": page("Contact", _words("contact")),
        "/privacy": page("Privacy", _words("privacy")),
        "/brochure.pdf": Reply(b"%PDF-1.4", content_type="application/pdf"),
    }
    web.add_site(h.ranked, pages)
    web.add_fallback(h.www_bare, lambda r: redirect(f"http://www.{h.www_bare}{r.path}"))
    web.add_site(f"www.{h.www_bare}", {
        "/": page("WWW Bakery", _words("bread"), "<a href='/about'>About</a> <a href='http://wwwredirect.com/services'>Services</a>"),
        "/about": page("About the bakery", _words("bakers")),
        "/services": page("Bakery services", _words("cakes")),
    })
    web.add(h.chain, "/", redirect("http://chain-middle.net/"))
    web.add("chain-middle.net", "/", redirect("http://www.chain-end.org/start", 302))
    web.add_site("www.chain-end.org", {
        "/start": page("Chain End Logistics", _words("freight"),
                       "<a href='http://chain-start.com/about'>About</a> <a href='/services'>Services</a>"),
        "/services": page("Freight services", _words("trucks")),
    })
    web.add(h.chain, "/about", page("About chain", _words("drivers")))
    web.add(h.loop, "/", redirect("/a", 302))
    web.add(h.loop, "/a", redirect("/", 302))
    for i in range(8):
        web.add(h.long_chain, "/" if i == 0 else f"/r{i}", redirect(f"/r{i + 1}"))
    web.add(h.long_chain, "/r8", page("End", _words("end")))
    web.add_site(h.robots, {
        "/robots.txt": Reply("User-agent: *\nDisallow: /private\n", content_type="text/plain"),
        "/": page("Robots Partial", _words("consulting"),
                  "<a href='/private/about-us'>About us</a> <a href='/services'>Services</a>"),
        "/private/about-us": page("Secret", _words("secret")),
        "/services": page("Consulting services", _words("advice")),
    })
    web.add_site(h.robots_all, {
        "/robots.txt": Reply("User-agent: *\nDisallow: /\n", content_type="text/plain"),
        "/": page("Hidden", _words("hidden")),
    })
    web.add_site(h.robots_broken, {
        "/robots.txt": Reply("oops", status=500, content_type="text/plain"),
        "/": page("Robots Broken", _words("gardening")),
    })
    cafe = page("Café Crème", "Un café très crémeux — naïve “quotes” and ‘more’ " + _words("café"))
    web.add(h.cp1252, "/", Reply(cafe.encode("cp1252"), content_type="text/html; charset=windows-1252"))
    cafe_meta = page("Crème brûlée", "Déjà vu — façade " + _words("pâtisserie"),
                     head="<meta charset='windows-1252'>")
    web.add(h.cp1252_meta, "/", Reply(cafe_meta.encode("cp1252"), content_type="text/html"))
    sjis = page("株式会社日本商事", "私たちについて。" + "高品質な部品を製造しています。" * 20, lang="ja",
                head="<meta http-equiv='Content-Type' content='text/html; charset=Shift_JIS'>")
    web.add(h.sjis, "/", Reply(sjis.encode("shift_jis"), content_type="text/html"))
    web.add(h.huge, "/", Reply(b"<html><body>" + b"x" * BIG + b"</body></html>"))
    web.add_site(h.huge_sub, {
        "/": page("Huge Sub", _words("storage"), "<a href='/about'>About</a> <a href='/services'>Services</a>"),
        "/about": Reply(b"<html><body>" + b"y" * BIG + b"</body></html>"),
        "/services": page("Storage services", _words("boxes")),
    })
    bomb = gzip.compress(b"<html><body>" + b"A" * (50 * 1024 * 1024), compresslevel=9)
    web.add(h.bomb, "/", Reply(bomb, headers={"Content-Encoding": "gzip"}))
    import brotli

    web.add(h.br_bomb, "/", Reply(brotli.compress(b"<html><body>" + b"B" * (50 * 1024 * 1024), quality=4),
                                  headers={"Content-Encoding": "br"}))
    web.add(h.slow, "/", _trickle)
    web.add_site(h.pdf, {
        "/": page("PDF Links", _words("printing"),
                  "<a href='/files/catalog.pdf'>Catalog</a> <a href='/download/catalog'>About us catalog</a>"),
        "/files/catalog.pdf": Reply(b"%PDF-1.4 catalog", content_type="application/pdf"),
        "/download/catalog": Reply(b"%PDF-1.4 catalog", content_type="application/pdf"),
    })
    web.add(h.pdf_home, "/", Reply(b"%PDF-1.4 home", content_type="application/pdf"))
    web.add_site(h.flaky, {
        "/": page("Flaky", _words("roofing"), "<a href='/about-us'>About us</a>"),
        "/about-us": fails_once(Reply("<h1>temporary error</h1>", status=500),
                                Reply(page("About Flaky", _words("flaky about")))),
    })
    web.add(h.down, "/", Reply("<h1>down</h1>", status=503))
    web.add_site(h.notfound, {})
    web.add_fallback(h.notfound, lambda r: Reply("<h1>not found</h1>", status=404))
    web.add(h.empty, "/", Reply("<html><head></head><body>   </body></html>"))
    web.add_unreachable(h.unreachable)
    return web


def add_real_pages(web: LocalWeb, files: list[Path], n: int = 24) -> list[str]:
    """Serve the first *n* saved real pages as home pages of sites ``realpage-NN.com``; returns the hosts."""
    hosts = []
    for i, path in enumerate(files[:n], start=1):
        host = f"realpage-{i:02d}.com"
        web.add(host, "/", Reply(path.read_bytes(), content_type="text/html"))
        hosts.append(host)
    return hosts


@pytest.fixture(scope="session")
def fixture_web() -> Iterator[LocalWeb]:
    """The started fixture web (session-scoped)."""
    web = build_fixture_web().start()
    try:
        yield web
    finally:
        web.stop()
