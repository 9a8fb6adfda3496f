"""Crawl-stage fixtures: the fixture web and one session-wide crawl of all its named sites."""

from __future__ import annotations

import pandas as pd
import pytest
from crawl_helpers import EXPECTED, REAL_PAGES, TEST_SETTINGS, MainCrawl
from fixtures_web import add_real_pages, fixture_web  # noqa: F401

from siteclass.crawling.runner import crawl
from siteclass.demo.web import LocalWeb


@pytest.fixture(scope="session")
def main_crawl(fixture_web: LocalWeb, tmp_path_factory: pytest.TempPathFactory) -> MainCrawl:  # noqa: F811
    real_files = sorted(REAL_PAGES.glob("*.html")) if REAL_PAGES.is_dir() else []
    real_hosts = add_real_pages(fixture_web, real_files, n=24) if real_files else []
    inputs = [{"id": sid, "url": url, "name": f"{sid} inc"} for sid, (url, _) in EXPECTED.items()]
    inputs += [{"id": f"real{i}", "url": host, "name": ""} for i, host in enumerate(real_hosts)]
    inputs += _demo_inputs(fixture_web)
    out = tmp_path_factory.mktemp("main-crawl")
    # text extraction in a separate process here (the default on machines with spare CPUs), inline elsewhere
    settings = {**TEST_SETTINGS, "workers": 1}
    result = crawl(inputs, out, proxy=fixture_web.proxy_url, progress=False, **settings)
    return MainCrawl(
        web=fixture_web, result=result, out=out,
        sites=pd.read_parquet(out / "sites.parquet"), pages=pd.read_parquet(out / "pages.parquet"),
        raw=pd.read_parquet(out / "raw.parquet"), real_hosts=real_hosts,
    )


def _demo_inputs(web: LocalWeb, n: int = 4) -> list[dict[str, str]]:
    """The first *n* sites of the embedded demo, served from their folders (ids ``demo-…``)."""
    import csv

    from siteclass.crawling.urls import host_of, normalize_input_url
    from siteclass.demo import SITES_DIR, sites_csv

    rows = []
    with sites_csv().open(newline="", encoding="utf-8") as fh:
        for row in list(csv.DictReader(fh))[:n]:
            host = host_of(normalize_input_url(row["url"]))
            if (SITES_DIR / host).is_dir():
                web.add_folder(host, SITES_DIR / host)
                rows.append({"id": f"demo-{row['id']}", "url": row["url"], "name": row["name"]})
    return rows
