"""Scrapy settings module of the siteclass egg that Scrapyd runs (``EGG-INFO/entry_points.txt`` names it).

It is :mod:`siteclass.crawl.scrapy_settings` with two differences:

- Scrapyd passes settings as ``-s KEY=VALUE`` text, so the spider registered here (the siteclass spider, same
  name) first decodes the siteclass crawl settings from their JSON text into the dict the spider and pipeline read;
- in a process Scrapyd started (``SCRAPY_PROJECT`` set), pandas is marked absent before anything imports it.
  pyarrow asks pandas whether its input is a DataFrame the first time it builds an array from Python objects,
  which imports pandas: 0.3–0.4 s of CPU (0.7 s and more of wall time on a busy machine) in every job, since
  each job is a fresh process — about 7 % of the CPU a chunk of 100 fast sites costs. A crawl job never holds a
  DataFrame.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
from typing import Any

from siteclass.crawl.scrapy_settings import *  # noqa: F403  (the upper-case names are the Scrapy settings)
from siteclass.crawl.scrapy_settings import SETTINGS_KEY
from siteclass.crawl.spider import SiteclassSpider


class _NoPandas(importlib.abc.MetaPathFinder):
    """``import pandas`` raises ImportError (pyarrow then goes on without it)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"pandas is not imported in Scrapyd crawl jobs ({__name__})", name=name)
        return None


if os.environ.get("SCRAPY_PROJECT") and "pandas" not in sys.modules:
    sys.meta_path.insert(0, _NoPandas())


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
