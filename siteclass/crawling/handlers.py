"""The crawl's HTTP download handler: Scrapy's, with kept-alive connections that close when idle for a while.

Twisted keeps an idle persistent connection for 240 s. A crawl talks to each site for a few seconds and never again,
so with that default every site crawled in the last four minutes holds an open socket: ~10,000 at 40 sites a
second, past the 1,024 open files many systems allow a process — and then sockets *and the crawl's own part files*
fail with "Too many open files". ``idle_connection_s`` (``[crawl]``, 10 s) closes them soon after a site is done.
The handler also raises the process's soft open-file limit to its hard limit, as servers commonly do.
"""

from __future__ import annotations

import functools
import logging

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler

from siteclass.config import CrawlSettings
from siteclass.crawling.scrapy_settings import IDLE_KEY

logger = logging.getLogger(__name__)
_IDLE_DEFAULT = float(CrawlSettings.model_fields["idle_connection_s"].default)


@functools.cache  # once a process (the http and https handlers both ask)
def raise_open_file_limit() -> tuple[int, int] | None:
    """Soft RLIMIT_NOFILE up to the hard limit (capped at 1,048,576); the (soft, hard) pair now, None where the
    platform has no such limit."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # some sandboxes refuse; the idle timeout still bounds the sockets
            logger.debug("could not raise the open-file limit: %s", exc)
    return soft, hard


class SiteHTTPDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler; idle kept-alive connections close after ``[crawl] idle_connection_s``."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        # Twisted types it int; callLater takes the float
        self._pool.cachedConnectionTimeout = crawler.settings.getfloat(IDLE_KEY, _IDLE_DEFAULT)  # type: ignore[assignment]
        raise_open_file_limit()
