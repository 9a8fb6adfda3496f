"""The crawl stage: a polite, robust Scrapy crawl of business websites to Parquet.

- ``runner``: ``crawl(sites, out, settings=None, **overrides) -> CrawlResult`` (also ``siteclass.crawl``),
  ``read_sites``; the crawl runs in a child process (``python -m siteclass.crawling.worker``).
- ``spider`` (``siteclass``), ``middlewares``, ``scrapy_settings`` (Scrapy settings module).
- ``failures``: a failed request → site status and sentence; ``DNS_FAIL_HEADER``, the proxy's failure header.
- ``pipeline``: Parquet parts as sites finish, resume, merge (local folders or fsspec URLs such as s3://).
- ``urls``, ``ranking``, ``extract``, ``items``: helpers shared with the dataset and serve stages.
- ``scrapyd``: the crawl spread over Scrapyd servers (``crawl_on_scrapyd``, also ``siteclass.crawl_on_scrapyd``).

The package is ``crawling``, not ``crawl``: importing a subpackage binds its name on ``siteclass``, which would
hide the ``siteclass.crawl`` function. The offline fake web the tests, demo and benchmarks crawl is
:mod:`siteclass.demo.web`.

Heavy imports (scrapy, trafilatura) happen in the submodules only, so ``import siteclass`` stays fast.
"""
