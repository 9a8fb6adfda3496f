"""Downloader middlewares of the siteclass crawl (enabled in siteclass.crawling.scrapy_settings)."""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    IgnoreRequest,
    NotConfigured,
)
from scrapy.http import Response

from siteclass.crawling.failures import DNS_FAIL_HEADER
from siteclass.crawling.urls import canonicalize


class RedirectLoop(IgnoreRequest):
    """A redirect chain came back to a URL it had already visited."""


class TooManyRedirects(IgnoreRequest):
    """A redirect chain was longer than the allowed number of redirects."""


class SiteDeadline(IgnoreRequest):
    """The request's site ran past its total deadline; remaining pages are dropped."""


class ProxyDNSError(CannotResolveHostError):
    """The HTTP proxy reported that the host name does not resolve."""


class ProxyConnectError(DownloadConnectionRefusedError):
    """The HTTP proxy reported that the site's server refused or dropped the connection."""


class ForceProxyMiddleware:
    """Send every request (robots.txt included) through ``SITECLASS_PROXY`` when it is set."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ForceProxyMiddleware:
        proxy = crawler.settings.get("SITECLASS_PROXY")
        if not proxy:
            raise NotConfigured
        return cls(str(proxy))

    def process_request(self, request: Request) -> None:
        request.meta.setdefault("proxy", self.proxy)


class ProxyErrorMiddleware:
    """Turn a proxy's 'DNS lookup failed' / 'connection failed' answers (Squid's ``X-Squid-Error:
    ERR_DNS_FAIL`` / ``ERR_CONNECT_FAIL``) into the errors a direct connection would raise.

    A real DNS failure without a proxy raises CannotResolveHostError in the download handler; behind a
    forward proxy the same failure arrives as a 502/503 with this header. Runs before RetryMiddleware so the
    answer is not retried.
    """

    def process_response(self, request: Request, response: Response) -> Response:
        marker = (response.headers.get(DNS_FAIL_HEADER) or b"").upper()
        if response.status in (502, 503, 504) and marker:
            host = request.url.split("/")[2] if "://" in request.url else request.url
            if b"ERR_DNS_FAIL" in marker:
                raise ProxyDNSError(f"DNS lookup failed for {host} (reported by the proxy)")
            if b"ERR_CONNECT_FAIL" in marker:
                raise ProxyConnectError(f"{host} refused the connection (reported by the proxy)")
        return response


class SiteRedirectMiddleware(RedirectMiddleware):
    """Scrapy's redirect handling plus loop detection, with distinct errors for loops and long chains."""

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        chain = [*request.meta.get("redirect_urls", []), request.url]
        target = canonicalize(redirected.url)
        if any(canonicalize(u) == target for u in chain):
            raise RedirectLoop(f"redirect loop: {' → '.join([*chain, redirected.url])}")
        try:
            return super()._redirect(redirected, request, reason)
        except IgnoreRequest as exc:
            raise TooManyRedirects(
                f"more than {self.max_redirect_times} redirects starting at {chain[0]}"
            ) from exc


class SiteDeadlineMiddleware:
    """Drop queued requests of a site that ran past its deadline (the spider decides, via ``site_expired``)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteDeadlineMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        check = getattr(self.crawler.spider, "site_expired", None)
        if check is not None and request.meta.get("site_id") is not None and check(request.meta["site_id"]):
            raise SiteDeadline(f"site deadline reached before {request.url} was fetched")
