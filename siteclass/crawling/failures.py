"""Map a failed request (Twisted Failure) to a site status and a sentence a person understands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from siteclass.config import CrawlSettings
from siteclass.crawling import items as st

if TYPE_CHECKING:
    from twisted.python.failure import Failure

NOT_HTML_META = "sc_not_html"  # request.meta: the Content-Type of a response refused as not HTML (set by the spider)
# The header a Squid-style forward proxy answers a failed DNS lookup (``ERR_DNS_FAIL …``) or connect
# (``ERR_CONNECT_FAIL …``) with; the crawl's ProxyErrorMiddleware and the serve fetch's tunnel read it.
DNS_FAIL_HEADER = "X-Squid-Error"


def not_html_message(url: str, content_type: str) -> str:
    return f"{url} is not an HTML page ({content_type or 'no type'})"


def _host(url: str) -> str:
    return url.split("/")[2] if "://" in url else url


def describe_failure(failure: Failure, request: Any, settings: CrawlSettings) -> tuple[str, str]:
    """(status, error sentence) for *failure* of *request*."""
    from scrapy.exceptions import (
        CannotResolveHostError,
        DownloadCancelledError,
        DownloadConnectionRefusedError,
        DownloadTimeoutError,
        IgnoreRequest,
    )
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.internet import error as terr

    from siteclass.crawling.middlewares import RedirectLoop, SiteDeadline, TooManyRedirects

    url = request.url
    exc = failure.value
    text = str(exc)
    if failure.check(HttpError):
        response = exc.response
        return st.HTTP_ERROR, f"{response.url} answered HTTP {response.status}"
    if failure.check(CannotResolveHostError, terr.DNSLookupError) or "ERR_DNS_FAIL" in text:
        return st.DNS_ERROR, f"the host name {_host(url)} does not resolve (DNS lookup failed)"
    if failure.check(RedirectLoop):
        return st.REDIRECT_LOOP, f"{url} redirects in a loop ({text.removeprefix('redirect loop: ')})"
    if failure.check(TooManyRedirects):
        return st.REDIRECT_LOOP, f"{text}; at most {settings.max_redirects} are followed"
    if failure.check(SiteDeadline):
        return st.TIMEOUT, f"the site took longer than its {settings.site_timeout_s:g} s deadline"
    if failure.check(DownloadTimeoutError, terr.TimeoutError, terr.TCPTimedOutError):
        return st.TIMEOUT, f"{url} did not finish loading within {settings.page_timeout_s:g} s"
    lowered = text.lower()
    too_large = "maxsize" in lowered or "max size" in lowered or "download_maxsize" in lowered
    refused_type = request.meta.get(NOT_HTML_META)  # the download was cut short because it is not HTML
    if refused_type is not None and (too_large or failure.check(DownloadCancelledError)):
        return st.NOT_HTML, not_html_message(url, refused_type)
    if too_large:
        return st.TOO_LARGE, f"{url} is larger than the {settings.max_bytes:,} byte cap"
    if failure.check(IgnoreRequest) and "robots.txt" in lowered:
        return st.BLOCKED_BY_ROBOTS, f"robots.txt of {_host(url)} does not allow crawling {url}"
    if failure.check(DownloadCancelledError):
        return st.TOO_LARGE, f"{url} was cancelled while downloading: {text}"
    if failure.check(DownloadConnectionRefusedError, terr.ConnectionRefusedError):
        return st.UNREACHABLE, f"{_host(url)} refused the connection"
    if failure.check(IgnoreRequest):
        return st.UNREACHABLE, f"{url} was not fetched: {text or type(exc).__name__}"
    detail = text or type(exc).__name__
    return st.UNREACHABLE, f"{url} could not be fetched: {detail}"
