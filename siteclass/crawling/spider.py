"""The siteclass spider: per site, the home page, then internal links best-ranked first, up to max_pages.

Arguments: ``sites`` (JSON-lines file or fsspec URL of ``{site_id, name, url}``) and ``out`` (output folder or
URL). Every site ends in exactly one :class:`SiteResult` item, whatever happens: callbacks and errbacks both
count the site's requests in flight and finish it when none are left.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.http import Response
from twisted.python.failure import Failure

from siteclass.config import CrawlSettings
from siteclass.crawling import items as st
from siteclass.crawling.extract import PageContent
from siteclass.crawling.failures import NOT_HTML_META, describe_failure, not_html_message
from siteclass.crawling.items import PageRow, RawRow, SiteResult, SiteRow
from siteclass.crawling.pool import PagePool, Processed, process_page, worker_count
from siteclass.crawling.ranking import LinkRanker
from siteclass.crawling.scrapy_settings import SETTINGS_KEY
from siteclass.crawling.urls import canonicalize, link_facts, registered_domain

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+html")
# A response that is not HTML is read up to this many bytes, then cancelled (it is refused either way). Not
# StopDownload: when a small body arrives in the same read as the headers, Twisted finishes the response after
# the headers callback and returns the connection to the pool although StopDownload has begun closing it; the
# next request written to it reaches the server, its answer is never read, and Twisted sends it again on a new
# connection (a duplicate request, seen with a 16-byte PDF). A body over one read (64 KiB) is never complete
# when the headers arrive, and a cancelled download aborts its connection before anything else is written to it.
NOT_HTML_READ_BYTES = 65_536


def request_url(response: Response) -> str:
    """The URL first requested for *response* (before redirects)."""
    return str((response.meta.get("redirect_urls") or [response.url])[0])


def is_html_type(content_type: str) -> bool:
    """True for HTML content types; an absent type is sniffed later and counts as HTML here."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    return not ctype or ctype in HTML_TYPES


@dataclass
class _SiteState:
    site_id: str
    name: str
    input_url: str
    url: str
    started: float = field(default_factory=time.monotonic)
    domains: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)
    pool: list[tuple[int, int, int, str, str]] = field(default_factory=list)  # (rank, depth, seq, url, text)
    inflight: int = 0
    scheduled: int = 0
    seq: int = 0
    pages: list[PageRow] = field(default_factory=list)
    raw: list[RawRow] = field(default_factory=list)
    final_url: str = ""
    status: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)
    finished: bool = False


class SiteclassSpider(scrapy.Spider):
    name = "siteclass"

    def __init__(self, sites: str = "", out: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sites_path = sites
        self.out = out
        self.crawl_settings = CrawlSettings.model_validate({})
        self.ranker = LinkRanker.from_settings(self.crawl_settings)
        self.state: dict[str, _SiteState] = {}
        self.pool: PagePool | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SiteclassSpider:
        spider: SiteclassSpider = super().from_crawler(crawler, *args, **kwargs)
        raw = crawler.settings.get(SETTINGS_KEY)
        if raw:
            spider.crawl_settings = CrawlSettings.model_validate(dict(raw))
        spider.ranker = LinkRanker.from_settings(spider.crawl_settings)
        processes = worker_count(spider.crawl_settings.workers)
        if processes > 0:
            spider.pool = PagePool(processes, spider.crawl_settings.max_pending_pages)
        crawler.signals.connect(spider._headers_received, signal=signals.headers_received)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    def _closed(self, reason: str = "") -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if reason == "finished" and self.state and self.out:
            # Every started site must end with a row; sites left here (a bug) are recorded, not lost.
            from siteclass.crawling.pipeline import OutputStore

            rows = [SiteResult(site=SiteRow(
                site_id=s.site_id, name=s.name, input_url=s.input_url, final_url=s.final_url or s.url,
                status=st.UNREACHABLE, error="the crawl ended before this site finished (internal error)",
                pages=0, elapsed_s=round(time.monotonic() - s.started, 3),
            )) for s in self.state.values()]
            self.logger.error("%d sites were unfinished at the end of the crawl", len(rows))
            OutputStore(self.out).write_part(rows)

    # ----- input -----
    def _inputs(self) -> Iterator[dict[str, str]]:
        import fsspec

        from siteclass.crawling.pipeline import finished_site_ids

        done = finished_site_ids(self.out) if self.out else set()
        with fsspec.open(self.sites_path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    if str(row["site_id"]) not in done:
                        yield {k: str(row.get(k) or "") for k in ("site_id", "name", "url", "input_url")}

    async def _pause(self, seconds: float) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))  # type: ignore[arg-type]

    async def start(self) -> AsyncIterator[Any]:
        # Sites are started only while fewer than max_active are under way: a site finishes soon after it
        # starts, so a killed crawl loses at most the sites in flight, and memory stays flat on long lists.
        max_active = self.crawl_settings.max_active_sites or self.crawl_settings.concurrent_requests
        for row in self._inputs():
            while len(self.state) >= max_active:
                await self._pause(0.02)
            site = _SiteState(row["site_id"], row["name"], row["input_url"] or row["url"], row["url"])
            if site.site_id in self.state:
                continue
            self.state[site.site_id] = site
            site.domains.add(registered_domain(site.url))
            site.seen.add(canonicalize(site.url))
            site.scheduled = 1
            site.inflight = 1
            yield self._request(site, site.url, depth=0, rank=0, text="", order=1, priority=0)

    def _request(self, site: _SiteState, url: str, *, depth: int, rank: int, text: str, order: int,
                 priority: int) -> scrapy.Request:
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.on_error, priority=priority, dont_filter=True,
            meta={"site_id": site.site_id, "sc_depth": depth, "rank": rank, "click_text": text, "order": order},
        )

    # ----- deadlines -----
    def site_expired(self, site_id: str) -> bool:
        site = self.state.get(site_id)
        return site is not None and time.monotonic() - site.started > self.crawl_settings.site_timeout_s

    # ----- a non-HTML body is read at most NOT_HTML_READ_BYTES, then refused -----
    def _headers_received(self, headers: Any, body_length: int, request: scrapy.Request, spider: Any) -> None:
        if request.meta.get("dont_obey_robotstxt") or "site_id" not in request.meta:
            return
        ctype = (headers.get(b"Content-Type") or b"").decode("latin-1")
        # set for every response: a retried or redirected request carries the meta of the one before
        if is_html_type(ctype):
            request.meta.pop(NOT_HTML_META, None)
            request.meta["download_maxsize"] = self.crawl_settings.max_bytes
        else:
            request.meta[NOT_HTML_META] = ctype
            request.meta["download_maxsize"] = min(NOT_HTML_READ_BYTES, self.crawl_settings.max_bytes)

    # ----- callbacks -----
    async def parse_page(self, response: Response) -> AsyncIterator[Any]:
        site = self.state[response.meta["site_id"]]
        try:
            await self._handle_page(site, response)
        except Exception as exc:  # a bug must not leave the site unfinished: it would lose its row
            self.logger.exception("failed to process %s", response.url)
            self._refuse(site, int(response.meta["sc_depth"]) == 0, st.UNREACHABLE,
                         f"{response.url} could not be processed: {exc!r}")
        site.inflight -= 1
        for request in self._schedule(site):
            yield request
        for result in self._maybe_finish(site):
            yield result

    async def _handle_page(self, site: _SiteState, response: Response) -> None:
        depth = int(response.meta["sc_depth"])
        is_home = depth == 0
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        if is_home:
            for url in [*response.meta.get("redirect_urls", []), response.url]:
                site.domains.add(registered_domain(url))
                site.seen.add(canonicalize(url))
            site.final_url = response.url
        if not is_html_type(ctype):
            self._refuse(site, is_home, st.NOT_HTML, not_html_message(response.url, ctype))
            return
        if not is_home and registered_domain(response.url) not in site.domains:
            site.notes.append(f"{request_url(response)} redirected off the site to {response.url}")
            return
        canon = canonicalize(response.url)
        if canon in site.stored:
            site.notes.append(f"{response.url} was already stored")
            return
        # claimed before processing, so a second response for the same page is not stored twice meanwhile; the
        # request stays 'in flight' while the page is processed, so the site cannot finish meanwhile
        site.stored.add(canon)
        processed = await self._process(response.body, ctype, response.url)
        if processed.content is None:
            site.stored.discard(canon)
            self._refuse(site, is_home, st.NOT_HTML, f"{response.url} is not an HTML page")
            return
        self._store(site, response, ctype, processed.html, processed.content, processed.link_facts)

    async def _process(self, body: bytes, ctype: str, url: str) -> Processed:
        """Decode and extract the page in the worker pool (retried once if its worker dies), or inline."""
        keep_html, extractor = self.crawl_settings.keep_raw, self.crawl_settings.extractor
        if self.pool is not None:
            return await self.pool.process(body, ctype, url, extractor, keep_html)
        return process_page(body, ctype, url, extractor, keep_html)

    def _store(self, site: _SiteState, response: Response, ctype: str, html: str, content: PageContent,
               facts: list[tuple[str, str, bool]] | None = None) -> None:
        depth = int(response.meta["sc_depth"])
        parts = urlsplit(response.url)
        site.pages.append(PageRow(
            site_id=site.site_id, input_url=site.input_url, url=response.url,
            domain=registered_domain(response.url), path=parts.path + (f"?{parts.query}" if parts.query else ""),
            depth=depth, rank=int(response.meta["rank"]), order=int(response.meta["order"]),
            click_text=str(response.meta.get("click_text") or ""), title=content.title,
            meta_description=content.meta_description, lang=content.lang, text=content.text,
            status=response.status, content_type=ctype, bytes=len(response.body), fetched_at=datetime.now(UTC),
        ))
        if self.crawl_settings.keep_raw:
            site.raw.append(RawRow(site_id=site.site_id, url=response.url, html=html))
        if depth < self.crawl_settings.max_depth:
            self._add_links(site, content.links, depth + 1, facts)

    def _add_links(self, site: _SiteState, links: list[tuple[str, str]], depth: int,
                   facts: list[tuple[str, str, bool]] | None = None) -> None:
        """*facts*: each link's :func:`link_facts`, computed in the page worker (else here)."""
        for index, (url, text) in enumerate(links):
            canon, host, skipped = facts[index] if facts is not None else link_facts(url)
            if not canon or canon in site.seen or skipped:
                continue
            if registered_domain(host) not in site.domains:
                continue
            site.seen.add(canon)
            site.seq += 1
            url = url.split("#", 1)[0]
            heapq.heappush(site.pool, (self.ranker.rank(url, text), depth, site.seq, url, text))

    def _schedule(self, site: _SiteState) -> Iterator[scrapy.Request]:
        if site.status or self.site_expired(site.site_id):
            return
        # At most concurrent_per_domain requests of a site are handed to Scrapy at a time, so pages are fetched
        # best rank first and better links found on sub-pages can still overtake those waiting.
        cs = self.crawl_settings
        limit = cs.max_pages + cs.max_failed_pages
        while (site.pool and len(site.pages) + site.inflight < cs.max_pages and site.scheduled < limit
               and site.inflight < cs.concurrent_per_domain):
            rank, depth, _, url, text = heapq.heappop(site.pool)
            site.inflight += 1
            site.scheduled += 1
            # pages of sites under way go before new sites' home pages; within a site, best rank first
            yield self._request(site, url, depth=depth, rank=rank, text=text, order=site.scheduled,
                                priority=100 - rank)

    def _refuse(self, site: _SiteState, is_home: bool, status: str, message: str) -> None:
        if is_home:
            site.status, site.error = status, message
        else:
            site.notes.append(message)

    def on_error(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        site = self.state[request.meta["site_id"]]
        site.inflight -= 1
        try:
            status, message = describe_failure(failure, request, self.crawl_settings)
        except Exception as exc:  # never leave a site without its row
            status, message = st.UNREACHABLE, f"{request.url} could not be fetched: {exc!r}"
        is_home = int(request.meta.get("sc_depth", 0)) == 0
        if is_home:
            site.final_url = site.final_url or request.url
        self._refuse(site, is_home, status, message)
        yield from self._schedule(site)
        yield from self._maybe_finish(site)

    def _maybe_finish(self, site: _SiteState) -> Iterator[SiteResult]:
        if site.finished or site.inflight > 0:
            return
        site.finished = True
        site.pages.sort(key=lambda p: (p.depth > 0, p.order))
        for index, page in enumerate(site.pages, start=1):
            page.order = index
        status, error = site.status, site.error
        if not status:
            if not site.pages:
                status, error = st.EMPTY, "no page of the site could be stored"
            elif not any(p.text.strip() for p in site.pages):
                status, error = st.EMPTY, "the site's pages have no readable text"
            else:
                status, error = st.OK, ""
        if status != st.OK:
            site.pages, site.raw = [], []
        elapsed = time.monotonic() - site.started
        yield SiteResult(
            site=SiteRow(
                site_id=site.site_id, name=site.name, input_url=site.input_url,
                final_url=site.final_url or site.url, status=status, error=error, pages=len(site.pages),
                elapsed_s=round(elapsed, 3),
            ),
            pages=site.pages, raw=site.raw,
        )
        del self.state[site.site_id]
