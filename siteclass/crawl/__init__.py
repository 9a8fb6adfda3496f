"""The crawl stage: a polite, robust Scrapy crawl of business websites to Parquet.

- ``runner``: ``crawl(sites, out, settings=None, **overrides) -> CrawlResult`` (also ``siteclass.crawl``),
  ``read_sites``; the crawl runs in a child process (``python -m siteclass.crawl.worker``).
- ``spider`` (``siteclass``), ``middlewares``, ``failures``, ``scrapy_settings`` (Scrapy/Scrapyd settings module).
- ``pipeline``: Parquet parts as sites finish, resume, merge (local folders or fsspec URLs such as s3://).
- ``urls``, ``ranking``, ``extract``, ``items``: helpers shared with the dataset and serve stages.
- ``localweb``: ``LocalWeb``, a forward proxy serving websites by host name offline (tests, demo, benchmark).

Heavy imports (scrapy, trafilatura) happen in the submodules only, so ``import siteclass`` stays fast.
"""
