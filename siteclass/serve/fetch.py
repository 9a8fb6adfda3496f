"""Guarded live fetch for the server: the home page and the best ranked internal pages of one site.

Same choices as the crawl (``siteclass/crawl``): link ranking, HTML → text extraction, robots.txt, page and byte
caps from ``[crawl]`` settings; but with httpx, in the server's event loop, and through :class:`UrlGuard` on every
hop: redirects are followed by hand, each hop is checked, and the connection goes to the checked address (the
URL carries the IP, the ``Host`` header and TLS SNI carry the name) so DNS cannot be asked twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from siteclass.serve.guard import ResolutionError, Target, UrlGuard, UrlNotAllowed

_REDIRECTS = (301, 302, 303, 307, 308)
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class FetchFailed(Exception):
    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass
class Fetched:
    url: str  # final URL after redirects
    status_code: int
    content_type: str
    body: bytes


@dataclass
class SiteFetch:
    """What the live fetch found: ``status`` uses the crawl's vocabulary (ok, dns_error, unreachable, …)."""

    input_url: str
    final_url: str
    domain: str
    status: str
    error: str = ""
    pages: list[dict[str, str]] = field(default_factory=list)


class GuardedFetcher:
    def __init__(
        self,
        guard: UrlGuard,
        *,
        max_pages: int = 5,
        max_bytes: int = 5 * 1024 * 1024,
        max_redirects: int = 5,
        page_timeout_s: float = 20.0,
        site_timeout_s: float = 20.0,
        user_agent: str = "siteclass",
        obey_robots: bool = True,
        rank_words: list[list[str]] | None = None,
        page_chars: int = 4000,
        concurrent_per_domain: int = 2,
        proxy: str | None = None,
        verify: Any = True,
    ) -> None:
        from siteclass.crawl.ranking import LinkRanker

        self.guard = guard
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.page_timeout_s = page_timeout_s
        self.site_timeout_s = site_timeout_s
        self.user_agent = user_agent
        self.obey_robots = obey_robots
        self.ranker = LinkRanker(rank_words or [])
        self.page_chars = page_chars
        self.concurrent_per_domain = concurrent_per_domain
        self.proxy = proxy
        self.verify = verify  # True (system CAs), a CA bundle path or an ssl.SSLContext
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.requests_sent = 0  # connections attempted (tests assert refused URLs never get one)

    @classmethod
    def from_settings(cls, settings: Any, guard: UrlGuard) -> GuardedFetcher:
        """*settings*: the whole :class:`siteclass.config.Settings` (``[crawl]``, ``[dataset]``, ``[serve]``)."""
        from siteclass._version import __version__

        crawl, serve = settings.crawl, settings.serve
        return cls(
            guard,
            max_pages=crawl.max_pages,
            max_bytes=crawl.max_bytes,
            max_redirects=crawl.max_redirects,
            page_timeout_s=crawl.page_timeout_s,
            site_timeout_s=min(crawl.site_timeout_s, serve.fetch_timeout_s),
            user_agent=crawl.user_agent.format(version=__version__),
            obey_robots=crawl.obey_robots,
            rank_words=crawl.rank_words,
            page_chars=settings.dataset.page_chars,
            concurrent_per_domain=crawl.concurrent_per_domain,
            proxy=serve.proxy or crawl.proxy,
        )

    # ------------------------------------------------------------------ client
    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            self._client = None  # a client's connections belong to the loop that opened them
        if self._client is None:
            self._client_loop = loop
            self._client = httpx.AsyncClient(
                proxy=self.proxy,
                verify=self.verify,
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self.page_timeout_s),
                headers={"User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"},
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send_once(self, target: Target) -> Fetched:
        """One request to one approved hop, connecting to the pinned address; body capped at max_bytes."""
        if target.ip is not None and not self.proxy:
            ip_host = f"[{target.ip}]" if ":" in target.ip else target.ip
            url = f"{target.scheme}://{ip_host}:{target.port}{target.path}"
            headers = {"Host": target.host_header}
            extensions: dict[str, Any] = {}
            if target.scheme == "https":
                # TLS speaks and verifies the name; the pool is keyed by IP, so a TLS connection is not reused
                # for another name on the same address.
                extensions["sni_hostname"] = target.host
                headers["Connection"] = "close"
            request = self._http().build_request("GET", url, headers=headers, extensions=extensions)
        else:
            request = self._http().build_request("GET", target.url)
        self.requests_sent += 1
        response = await self._http().send(request, stream=True)
        try:
            body = bytearray()
            if response.status_code not in _REDIRECTS:
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise FetchFailed("too_large", f"{target.url} is larger than {self.max_bytes} bytes")
            location = response.headers.get("location", "")
            fetched = Fetched(target.url, response.status_code, response.headers.get("content-type", ""), bytes(body))
            if response.status_code in _REDIRECTS:
                fetched.body = location.encode("utf-8", "replace")
            return fetched
        finally:
            await response.aclose()

    async def get(self, url: str, pins: dict[str, list[str]] | None = None) -> Fetched:
        """GET *url*, following redirects by hand with the guard checking every hop (*pins*: see UrlGuard)."""
        seen: set[str] = set()
        for _ in range(self.max_redirects + 1):
            target = await self.guard.check(url, pins)  # raises UrlNotAllowed / ResolutionError
            try:
                async with asyncio.timeout(self.page_timeout_s):
                    fetched = await self._send_once(target)
            except TimeoutError as exc:
                raise FetchFailed("timeout", f"{url} took longer than {self.page_timeout_s:g} s") from exc
            except httpx.TimeoutException as exc:
                raise FetchFailed("timeout", f"{url}: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise FetchFailed("unreachable", f"{url}: {type(exc).__name__}: {exc}") from exc
            if fetched.status_code not in _REDIRECTS:
                return fetched
            location = fetched.body.decode("utf-8", "replace").strip()
            if not location:
                return fetched
            seen.add(url)
            url = urljoin(url, location)
            if url in seen:
                raise FetchFailed("redirect_loop", f"redirect loop at {url}")
        raise FetchFailed("redirect_loop", f"more than {self.max_redirects} redirects from {url}")

    # ------------------------------------------------------------------ site
    async def _robots(self, home: str, pins: dict[str, list[str]]) -> Any:
        if not self.obey_robots:
            return None
        from protego import Protego

        robots_url = urljoin(home, "/robots.txt")
        try:
            fetched = await self.get(robots_url, pins)
        except (FetchFailed, UrlNotAllowed, ResolutionError, OSError):
            return None
        if fetched.status_code != 200:
            return None
        return Protego.parse(fetched.body.decode("utf-8", "replace"))

    def _allowed_by(self, robots: Any, url: str) -> bool:
        return robots is None or bool(robots.can_fetch(url, self.user_agent))

    async def _page(self, url: str, pins: dict[str, list[str]]) -> tuple[Fetched, Any] | None:
        from siteclass.crawl.extract import decode_html, extract_page

        try:
            fetched = await self.get(url, pins)
        except (FetchFailed, UrlNotAllowed, ResolutionError, OSError):
            return None
        if fetched.status_code >= 400 or not fetched.content_type.lower().startswith(_HTML_TYPES):
            return None
        html = decode_html(fetched.body, fetched.content_type)
        return fetched, await asyncio.to_thread(extract_page, html, fetched.url)

    async def fetch_site(self, url: str) -> SiteFetch:
        """Fetch one site; raises UrlNotAllowed when its URL (or a redirect of the home page) is refused."""
        from siteclass.crawl.urls import registered_domain

        domain = registered_domain(url)
        result = SiteFetch(input_url=url, final_url=url, domain=domain, status="ok")
        try:
            async with asyncio.timeout(self.site_timeout_s):
                await self._fetch_into(url, result)
        except TimeoutError:
            result.status, result.error = "timeout", f"the site took longer than {self.site_timeout_s:g} s"
        except FetchFailed as exc:
            result.status, result.error = exc.status, exc.error
        except ResolutionError as exc:
            result.status, result.error = "dns_error", str(exc)
        except OSError as exc:
            result.status, result.error = "unreachable", f"{type(exc).__name__}: {exc}"
        return result

    async def _fetch_into(self, url: str, result: SiteFetch) -> None:
        from siteclass.crawl.extract import decode_html, extract_page
        from siteclass.crawl.urls import registered_domain

        pins: dict[str, list[str]] = {}
        robots = await self._robots(url, pins)
        if not self._allowed_by(robots, url):
            raise FetchFailed("blocked_by_robots", f"robots.txt of {url} disallows it")
        home = await self.get(url, pins)
        result.final_url = home.url
        result.domain = registered_domain(home.url) or result.domain
        if home.status_code >= 400:
            raise FetchFailed("http_error", f"HTTP {home.status_code} from {home.url}")
        if not home.content_type.lower().startswith(_HTML_TYPES):
            raise FetchFailed("not_html", f"{home.url} is {home.content_type or 'of no content type'}")
        page = await asyncio.to_thread(extract_page, decode_html(home.body, home.content_type), home.url)
        pages = [self._page_dict(home.url, page)]
        for link in self._best_links(home.url, page.links, result.domain, robots):
            if len(pages) >= self.max_pages:
                break
            pages.append({"url": link, "title": "", "text": ""})  # placeholder keeps the order
        if len(pages) > 1:
            sem = asyncio.Semaphore(self.concurrent_per_domain)

            async def one(link: str) -> tuple[Fetched, Any] | None:
                async with sem:
                    return await self._page(link, pins)

            got = await asyncio.gather(*(one(p["url"]) for p in pages[1:]))
            pages = pages[:1] + [self._page_dict(f.url, pc) for item in got if item for f, pc in [item]]
        result.pages = [p for p in pages if p["text"] or p["title"]]
        if not result.pages:
            result.status, result.error = "empty", f"no text on {home.url}"

    def _best_links(self, base: str, links: list[tuple[str, str]], domain: str, robots: Any) -> list[str]:
        from siteclass.crawl.urls import registered_domain

        base_key = _key(base)
        seen = {base_key}
        ranked: list[tuple[int, int, str]] = []
        for i, (link, text) in enumerate(links):
            key = _key(link)
            if key in seen or registered_domain(link) != domain or not self._allowed_by(robots, link):
                continue
            seen.add(key)
            ranked.append((self.ranker.rank(link, text), i, link.split("#", 1)[0]))
        ranked.sort()
        return [link for _, _, link in ranked[: max(0, self.max_pages - 1)]]

    def _page_dict(self, url: str, page: Any) -> dict[str, str]:
        return {"url": url, "title": page.title or "", "text": (page.text or "")[: self.page_chars]}


def _key(url: str) -> str:
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        return f"{(parts.hostname or '').removeprefix('www.')}{parts.path.rstrip('/') or '/'}?{parts.query}"
    return url
