"""Guarded live fetch for the server: the home page and the best ranked internal pages of one site.

Same choices as the crawl (``siteclass/crawling``): link ranking, HTML → text extraction, robots.txt, page and byte
caps from ``[crawl]`` settings; but with httpx, in the server's event loop, and through :class:`UrlGuard` on every
hop: redirects are followed by hand, each hop is checked, and the connection goes to the checked address (the
URL carries the IP, the ``Host`` header and TLS SNI carry the name) so DNS cannot be asked twice. Behind a proxy
the connection is a ``CONNECT IP:port`` tunnel to that address, inside which the request is the same (see guard.py).

Retries follow the crawl's policy (``[crawl] retries``): a 5xx/408/429 answer or a connection error (refused,
reset, dropped mid-body) is tried again, a timeout, a DNS failure or a TLS verification failure is not; every try
stays inside the site's deadline. Squid-style proxy answers (``X-Squid-Error: ERR_DNS_FAIL`` /
``ERR_CONNECT_FAIL``) become ``dns_error`` / a connection error, as in the crawl.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from siteclass.config import DEFAULT_EXTRACTOR, Extractor
from siteclass.crawling.scrapy_settings import RETRY_HTTP_CODES
from siteclass.errors import InputError
from siteclass.serve.guard import ResolutionError, Target, UrlGuard, UrlNotAllowed
from siteclass.serve.tunnel import PROXY_ERROR_HEADER, tunnel_through

_REDIRECTS = (301, 302, 303, 307, 308)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_RETRY_CODES = frozenset(RETRY_HTTP_CODES)
_RETRY_BACKOFF_S = 0.1  # before retry n (n = 1, 2, …): n × this


@dataclass
class _SiteClock:
    """The event-loop time the current site fetch must end by (no retry is started whose backoff would pass it),
    and the failure being retried (named when the deadline cuts a retry short)."""

    deadline: float
    retrying: str = ""


_CLOCK: ContextVar[_SiteClock | None] = ContextVar("siteclass_site_clock", default=None)


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
    proxy_error: str = ""  # a proxy's X-Squid-Error marker (ERR_DNS_FAIL …), "" without one
    retries: int = 0  # retries this answer took


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
        retries: int = 1,
        extractor: Extractor = DEFAULT_EXTRACTOR,
    ) -> None:
        from siteclass.crawling.ranking import LinkRanker

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
        if proxy and urlsplit(proxy).scheme.lower() not in ("http", "https"):
            raise InputError(f"proxy {proxy!r}: the live fetch supports http:// and https:// proxies only")
        self.retries = retries
        self.extractor: Extractor = extractor
        self._clients: dict[bool, httpx.AsyncClient] = {}  # pinned (to an IP) → client
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
            retries=crawl.retries,
            extractor=crawl.extractor,
        )

    # ------------------------------------------------------------------ client
    def _http(self, pinned: bool = True) -> httpx.AsyncClient:
        """The client for requests to a pinned IP (direct, or through a CONNECT tunnel of the proxy to that IP),
        or for requests by name (only behind a proxy that resolves names: httpx's own proxy support)."""
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:
            self._clients = {}  # a client's connections belong to the loop that opened them
            self._client_loop = loop
        client = self._clients.get(pinned)
        if client is None:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=32)
            if pinned:
                transport = httpx.AsyncHTTPTransport(verify=self.verify, limits=limits, trust_env=False)
                if self.proxy:
                    tunnel_through(transport, self.proxy)
            else:
                transport = httpx.AsyncHTTPTransport(proxy=self.proxy, verify=self.verify, limits=limits,
                                                     trust_env=False)
            client = self._clients[pinned] = httpx.AsyncClient(
                transport=transport,
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self.page_timeout_s),
                headers={"User-Agent": self.user_agent, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"},
            )
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _request(self, target: Target) -> tuple[httpx.AsyncClient, httpx.Request]:
        if target.ip is None:  # only when the proxy resolves the name (guard: proxy_resolves / allow_private)
            client = self._http(pinned=False)
            return client, client.build_request("GET", target.url)
        ip_host = f"[{target.ip}]" if ":" in target.ip else target.ip
        url = f"{target.scheme}://{ip_host}:{target.port}{target.path}"
        headers = {"Host": target.host_header}
        extensions: dict[str, Any] = {}
        if target.scheme == "https":
            # TLS speaks and verifies the name; the pool is keyed by IP, so a TLS connection is not reused
            # for another name on the same address.
            extensions["sni_hostname"] = target.host
            headers["Connection"] = "close"
        client = self._http()
        return client, client.build_request("GET", url, headers=headers, extensions=extensions)

    async def _send_once(self, target: Target) -> Fetched:
        """One request to one approved hop, connecting to the pinned address; body capped at max_bytes."""
        try:
            client, request = self._request(target)
        except httpx.InvalidURL as exc:
            raise FetchFailed("http_error", f"{target.url} is not a URL that can be requested ({exc})") from exc
        self.requests_sent += 1
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            if response.status_code not in _REDIRECTS:
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise FetchFailed("too_large", f"{target.url} is larger than {self.max_bytes} bytes")
            location = response.headers.get("location", "")
            fetched = Fetched(target.url, response.status_code, response.headers.get("content-type", ""), bytes(body))
            if self.proxy and response.status_code in (502, 503, 504):
                fetched.proxy_error = response.headers.get(PROXY_ERROR_HEADER, "").upper()
            if response.status_code in _REDIRECTS:
                fetched.body = location.encode("utf-8", "replace")
            return fetched
        finally:
            await response.aclose()

    async def _send(self, target: Target) -> Fetched:
        """_send_once with the crawl's retry policy, inside the page timeout (per try) and the site deadline."""
        loop, clock = asyncio.get_running_loop(), _CLOCK.get()
        url = target.url
        for attempt in range(self.retries + 1):
            retry: FetchFailed | None = None
            try:
                async with asyncio.timeout(self.page_timeout_s):
                    fetched = await self._send_once(target)
            except TimeoutError as exc:
                raise FetchFailed("timeout", f"{url} took longer than {self.page_timeout_s:g} s") from exc
            except httpx.TimeoutException as exc:
                raise FetchFailed("timeout", f"{url}: no answer in time ({type(exc).__name__})") from exc
            except httpx.ProxyError as exc:  # the proxy refused the CONNECT
                retry = self._proxy_refusal(url, str(exc))
            except (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                if _is_tls_failure(exc):
                    raise FetchFailed("unreachable", f"{url}: TLS failed ({_cause(exc)})") from exc
                if self.proxy and isinstance(exc, httpx.ConnectError):
                    retry = FetchFailed("unreachable", f"cannot reach the proxy {self.proxy}: {_cause(exc)}")
                else:
                    retry = FetchFailed("unreachable", f"{url}: {type(exc).__name__}: {_cause(exc)}")
            except httpx.HTTPError as exc:
                raise FetchFailed("unreachable", f"{url}: {type(exc).__name__}: {exc}") from exc
            else:
                if "ERR_DNS_FAIL" in fetched.proxy_error:
                    raise FetchFailed("dns_error", f"{target.host} does not resolve (reported by the proxy)")
                if "ERR_CONNECT_FAIL" in fetched.proxy_error:
                    retry = FetchFailed("unreachable", f"{url} refused the connection (reported by the proxy)")
                elif fetched.status_code not in _RETRY_CODES:
                    if attempt and clock and url in clock.retrying:
                        clock.retrying = ""  # that retry worked
                    return fetched
            if attempt == self.retries or (clock and loop.time() + _RETRY_BACKOFF_S * (attempt + 1) >= clock.deadline):
                if retry is None:
                    fetched.retries = attempt
                    return fetched  # the last answer stands (its status becomes http_error)
                if attempt:
                    retry.error += f" (after {attempt} {'retry' if attempt == 1 else 'retries'})"
                raise retry
            if clock:
                clock.retrying = retry.error if retry else f"HTTP {fetched.status_code} from {url}"
            await asyncio.sleep(_RETRY_BACKOFF_S * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _proxy_refusal(self, url: str, message: str) -> FetchFailed:
        """A refused CONNECT ("502 … ERR_DNS_FAIL …"): raises dns_error / a final error, or returns one to retry."""
        if "ERR_DNS_FAIL" in message.upper():
            raise FetchFailed("dns_error", f"{urlsplit(url).hostname} does not resolve (reported by the proxy)")
        code = message.split(" ", 1)[0]
        failure = FetchFailed("unreachable", f"{url}: the proxy {self.proxy} answered the CONNECT with {message}")
        if code.isdigit() and 400 <= int(code) < 500:
            failure.error += (" (the live fetch tunnels to the checked address: the proxy must allow CONNECT to the"
                              " site's port, e.g. 80 in Squid's SSL_ports, or set [serve] proxy_resolves = true)")
        if "ERR_CONNECT_FAIL" in message.upper() or (code.isdigit() and int(code) in _RETRY_CODES):
            return failure
        raise failure

    async def get(self, url: str, pins: dict[str, list[str]] | None = None) -> Fetched:
        """GET *url*, following redirects by hand with the guard checking every hop (*pins*: see UrlGuard)."""
        seen: set[str] = set()
        start = url
        for _ in range(self.max_redirects + 1):
            target = await self.guard.check(url, pins)  # raises UrlNotAllowed / ResolutionError
            fetched = await self._send(target)
            if fetched.status_code not in _REDIRECTS:
                return fetched
            location = fetched.body.decode("utf-8", "replace").strip()
            if not location:
                return fetched
            seen.add(url)
            url = urljoin(url, location)
            if url in seen:
                raise FetchFailed("redirect_loop", f"redirect loop at {url}")
        raise FetchFailed("redirect_loop", f"more than {self.max_redirects} redirects from {start}")

    # ------------------------------------------------------------------ site
    async def _robots(self, home: str, pins: dict[str, list[str]]) -> Any:
        if not self.obey_robots:
            return None
        from protego import Protego

        robots_url = urljoin(home, "/robots.txt")
        try:
            fetched = await self.get(robots_url, pins)
        except FetchFailed as exc:
            if exc.status == "dns_error":  # the home page is on the same host: say so now, not after a 2nd lookup
                raise
            return None
        except (UrlNotAllowed, OSError) as exc:
            if isinstance(exc, ResolutionError):
                raise
            return None
        if fetched.status_code != 200:
            return None
        return Protego.parse(fetched.body.decode("utf-8", "replace"))

    def _allowed_by(self, robots: Any, url: str) -> bool:
        return robots is None or bool(robots.can_fetch(url, self.user_agent))

    async def _page(self, url: str, pins: dict[str, list[str]]) -> tuple[Fetched, Any] | None:
        from siteclass.crawling.extract import decode_html, extract_page

        try:
            fetched = await self.get(url, pins)
        except (FetchFailed, UrlNotAllowed, ResolutionError, OSError):
            return None
        if fetched.status_code >= 400 or not fetched.content_type.lower().startswith(_HTML_TYPES):
            return None
        html = decode_html(fetched.body, fetched.content_type)
        return fetched, await asyncio.to_thread(extract_page, html, fetched.url, self.extractor)

    async def fetch_site(self, url: str) -> SiteFetch:
        """Fetch one site; raises UrlNotAllowed when its URL (or a redirect of the home page) is refused."""
        from siteclass.crawling.urls import registered_domain

        domain = registered_domain(url)
        result = SiteFetch(input_url=url, final_url=url, domain=domain, status="ok")
        clock = _SiteClock(asyncio.get_running_loop().time() + self.site_timeout_s)
        token = _CLOCK.set(clock)
        try:
            async with asyncio.timeout(self.site_timeout_s):
                await self._fetch_into(url, result)
        except TimeoutError:
            result.status, result.error = "timeout", f"the site took longer than {self.site_timeout_s:g} s"
            if clock.retrying:
                result.error += f" (retrying after: {clock.retrying})"
        except FetchFailed as exc:
            result.status, result.error = exc.status, exc.error
        except ResolutionError as exc:
            result.status, result.error = "dns_error", str(exc)
        except OSError as exc:
            result.status, result.error = "unreachable", f"{type(exc).__name__}: {exc}"
        finally:
            _CLOCK.reset(token)
        return result

    async def _fetch_into(self, url: str, result: SiteFetch) -> None:
        from siteclass.crawling.extract import decode_html, extract_page
        from siteclass.crawling.urls import registered_domain

        pins: dict[str, list[str]] = {}
        robots = await self._robots(url, pins)
        if not self._allowed_by(robots, url):
            raise FetchFailed("blocked_by_robots", f"robots.txt of {url} disallows it")
        home = await self.get(url, pins)
        result.final_url = home.url
        result.domain = registered_domain(home.url) or result.domain
        if home.status_code >= 400:
            again = f" (after {home.retries} {'retry' if home.retries == 1 else 'retries'})" if home.retries else ""
            raise FetchFailed("http_error", f"HTTP {home.status_code} from {home.url}{again}")
        if not home.content_type.lower().startswith(_HTML_TYPES):
            raise FetchFailed("not_html", f"{home.url} is {home.content_type or 'of no content type'}")
        page = await asyncio.to_thread(
            extract_page, decode_html(home.body, home.content_type), home.url, self.extractor
        )
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
        from siteclass.crawling.urls import registered_domain

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


def _cause(exc: BaseException) -> str:
    """The innermost message of an httpx error (the OS / TLS reason), or the class name when it has none."""
    for _ in range(8):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return str(exc) or type(exc).__name__


def _is_tls_failure(exc: BaseException) -> bool:
    """A certificate or handshake failure: retrying would fail the same way."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in type(exc).__name__


def _key(url: str) -> str:
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        return f"{(parts.hostname or '').removeprefix('www.')}{parts.path.rstrip('/') or '/'}?{parts.query}"
    return url
