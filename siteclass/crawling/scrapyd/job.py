"""Scrapy settings module of the siteclass egg that Scrapyd runs (``EGG-INFO/entry_points.txt`` names it).

It is :mod:`siteclass.crawling.scrapy_settings` with one difference: Scrapyd passes settings as ``-s KEY=VALUE``
text, so the spider registered here (the siteclass spider, same name) first decodes the siteclass crawl settings
from their JSON text into the dict the spider and pipeline read.
"""

from __future__ import annotations

import json
from typing import Any

from siteclass.crawling.scrapy_settings import *  # noqa: F403  (the upper-case names are the Scrapy settings)
from siteclass.crawling.scrapy_settings import SETTINGS_KEY
from siteclass.crawling.spider import SiteclassSpider


class ScrapydSiteclassSpider(SiteclassSpider):
    name = "siteclass"

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ScrapydSiteclassSpider:
        value = crawler.settings.get(SETTINGS_KEY)
        if isinstance(value, str) and value.strip().startswith("{"):
            crawler.settings.set(SETTINGS_KEY, json.loads(value), priority="cmdline")
        spider = super().from_crawler(crawler, *args, **kwargs)
        assert isinstance(spider, ScrapydSiteclassSpider)
        return spider


SPIDER_MODULES = [__name__]
NEWSPIDER_MODULE = __name__
