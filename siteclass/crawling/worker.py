"""Child process that runs one Scrapy crawl: ``python -m siteclass.crawling.worker --sites F --out DIR --settings S``.

Twisted's reactor cannot be restarted, so :func:`siteclass.crawling.runner.crawl` runs every crawl here, in a fresh
process; on Linux the worker dies with its parent (a killed ``siteclass crawl`` leaves no orphan crawling).
"""

from __future__ import annotations

import argparse
import signal
import sys


def die_with_parent() -> None:
    """On Linux, get SIGKILL when the parent process dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def run(sites: str, out: str, settings_json: str) -> None:
    from scrapy.crawler import CrawlerProcess

    from siteclass.config import CrawlSettings
    from siteclass.crawling.scrapy_settings import scrapy_settings
    from siteclass.crawling.spider import SiteclassSpider

    crawl = CrawlSettings.model_validate_json(settings_json)
    process = CrawlerProcess(scrapy_settings(crawl))
    process.crawl(SiteclassSpider, sites=sites, out=out)
    process.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m siteclass.crawling.worker")
    parser.add_argument("--sites", required=True, help="JSON-lines file of {site_id, name, url}")
    parser.add_argument("--out", required=True, help="output folder or fsspec URL")
    parser.add_argument("--settings", required=True, help="file with the CrawlSettings as JSON")
    args = parser.parse_args(argv)
    die_with_parent()
    with open(args.settings, encoding="utf-8") as fh:
        run(args.sites, args.out, fh.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
