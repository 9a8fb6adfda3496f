"""Scrapy settings of the siteclass crawl.

``scrapy_settings(CrawlSettings)`` maps siteclass settings to Scrapy settings. This module is also a Scrapy
settings module (the ``scrapy`` entry point in pyproject.toml, used by a Scrapyd egg): its upper-case names are
the defaults, so ``scrapy crawl siteclass -a sites=… -a out=…`` and Scrapyd jobs run the same crawl.
"""

from __future__ import annotations

from typing import Any

from siteclass._version import __version__
from siteclass.config import CrawlSettings

SETTINGS_KEY = "SITECLASS_CRAWL"  # the CrawlSettings (as a dict) the spider and pipeline read
IDLE_KEY = "SITECLASS_IDLE_CONNECTION_S"  # [crawl] idle_connection_s, read by crawling.handlers
RETRY_HTTP_CODES = (500, 502, 503, 504, 522, 524, 408, 429)  # answers worth another try (serve's live fetch too)


def scrapy_settings(crawl: CrawlSettings) -> dict[str, Any]:
    """Scrapy settings for *crawl*: polite, bounded and robust by default."""
    user_agent = crawl.user_agent.format(version=__version__)
    return {
        "BOT_NAME": "siteclass",
        "SPIDER_MODULES": ["siteclass.crawling.spider"],
        "NEWSPIDER_MODULE": "siteclass.crawling.spider",
        SETTINGS_KEY: crawl.model_dump(mode="json"),
        "SITECLASS_PROXY": crawl.proxy or "",
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "ROBOTSTXT_USER_AGENT": "siteclass",
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        # Scrapy starts this many asyncio tasks for every callback's output; ours is a few requests and at most one
        # item per page, and 100 (the default) cost ~3 ms of the reactor's CPU per page
        "CONCURRENT_ITEMS": 8,
        # Scrapy checks each callback for a generator that returns a value by reading and parsing its source. Its
        # cache misses on the errback (a generator), so the check ran on every failed request: 0.6 ms of the
        # reactor's CPU each (404s, refusals). The spider's callbacks are ours, and tested.
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
        "DOWNLOAD_DELAY": crawl.download_delay_s,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.autothrottle_start_delay_s, crawl.download_delay_s),
        "AUTOTHROTTLE_MAX_DELAY": max(crawl.autothrottle_max_delay_s, crawl.download_delay_s),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.concurrent_per_domain),
        # DOWNLOAD_TIMEOUT covers the whole download (headers and body): a trickling server cannot hold a slot.
        "DOWNLOAD_TIMEOUT": crawl.page_timeout_s,
        "DNS_TIMEOUT": crawl.dns_timeout_s,
        # The cap applies to the received body and, in HttpCompressionMiddleware, to the decompressed one.
        "DOWNLOAD_MAXSIZE": crawl.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_FAIL_ON_DATALOSS": False,
        "REDIRECT_MAX_TIMES": crawl.max_redirects,
        # idle kept-alive connections close after idle_connection_s (handlers.py), not Twisted's 240 s
        "DOWNLOAD_HANDLERS": {"http": "siteclass.crawling.handlers.SiteHTTPDownloadHandler",
                              "https": "siteclass.crawling.handlers.SiteHTTPDownloadHandler"},
        IDLE_KEY: crawl.idle_connection_s,
        "METAREFRESH_ENABLED": True,
        "METAREFRESH_MAXDELAY": 5,
        "RETRY_ENABLED": crawl.retries > 0,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": list(RETRY_HTTP_CODES),
        # connection errors only: no retry of timeouts (a slow server would hold the slot twice) or DNS failures
        "RETRY_EXCEPTIONS": [
            "scrapy.exceptions.DownloadConnectionRefusedError",
            "scrapy.exceptions.DownloadFailedError",
            "scrapy.exceptions.ResponseDataLossError",
            "twisted.internet.error.ConnectionDone",
            "twisted.internet.error.ConnectError",
            "twisted.internet.error.ConnectionLost",
            "scrapy.core.downloader.handlers.http11.TunnelError",
        ],
        # the spider keeps its own per-site canonical-URL set; Scrapy's filter would drop redirect loops silently
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        # breadth-first within a priority: equally ranked links are fetched in the order they were found
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        # not even imported (it imports aiohttp: ~0.1 s of every crawl's start-up)
        "EXTENSIONS": {"scrapy.extensions.remote_control.RemoteControl": None},
        "LOG_LEVEL": crawl.log_level,
        "LOGSTATS_INTERVAL": 0,
        "DOWNLOADER_MIDDLEWARES": {
            "siteclass.crawling.middlewares.SiteDeadlineMiddleware": 40,
            "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
            "siteclass.crawling.middlewares.SiteRedirectMiddleware": 600,
            "siteclass.crawling.middlewares.ProxyErrorMiddleware": 560,
            "siteclass.crawling.middlewares.ForceProxyMiddleware": 740,
        },
        "ITEM_PIPELINES": {"siteclass.crawling.pipeline.ParquetPipeline": 300},
        "FEED_EXPORT_ENCODING": "utf-8",
    }


globals().update(scrapy_settings(CrawlSettings.model_validate({})))
