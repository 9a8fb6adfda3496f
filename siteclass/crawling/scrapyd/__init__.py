"""The crawl spread over Scrapyd servers (``siteclass crawl SITES --out DIR --scrapyd URL[,URL…]``).

- ``scheduler``: ``crawl_on_scrapyd(sites, out, urls, settings) -> ScrapydCrawlResult`` (also
  ``siteclass.crawl_on_scrapyd``): chunks, a bounded queue per server, polling, retries, the merge.
- ``state``: the resumable scheduler state (``OUT/_scrapyd/state.json``), chunks and their Parquet output.
- ``poll``: ``PollClock``, when to poll next.
- ``api``: the Scrapyd HTTP client, the egg of the installed package, ``scrapyd.conf``, ``LocalScrapyd``.
- ``job``: the Scrapy settings module the egg names (the Scrapyd job's spider).
"""

from siteclass.crawling.scrapyd.api import LocalScrapyd, ScrapydClient, ScrapydError, build_egg, scrapyd_conf
from siteclass.crawling.scrapyd.scheduler import (
    Progress,
    ScrapydCrawler,
    ScrapydCrawlResult,
    crawl_on_scrapyd,
    print_progress,
)

__all__ = [
    "LocalScrapyd",
    "Progress",
    "ScrapydClient",
    "ScrapydCrawlResult",
    "ScrapydCrawler",
    "ScrapydError",
    "build_egg",
    "crawl_on_scrapyd",
    "print_progress",
    "scrapyd_conf",
]
