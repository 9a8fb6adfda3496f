"""Open files: a crawl of many sites under a low open-file limit never loses a site silently.

Twisted keeps an idle kept-alive connection 240 s; with that, a crawl of a few hundred quick sites held a socket per
site, ran out of file descriptors and could not open its own part files: those sites had no row and the command
still exited 0. Now idle connections close after ``[crawl] idle_connection_s`` (10 s), the crawl raises its soft
limit to the hard one, and a site without a row fails the command (re-run to resume).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fixtures_web import page

from siteclass.config import CrawlSettings
from siteclass.crawling.scrapy_settings import IDLE_KEY, scrapy_settings
from siteclass.demo.web import LocalWeb


def _limit(n: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


@pytest.mark.slow
def test_a_crawl_out_of_file_descriptors_never_loses_a_site_silently(fixture_web: LocalWeb, tmp_path: Path) -> None:
    n = 800
    for i in range(n):  # https: one tunnel (a kept-alive connection) per site through the proxy
        fixture_web.add(f"fd-{i:03d}.com", "/", page(f"Site {i}", f"Site {i} repairs boilers and pipes. " * 8, ""))
    sites_csv = tmp_path / "sites.csv"
    sites_csv.write_text("id,url\n" + "".join(f"f{i},https://fd-{i:03d}.com/\n" for i in range(n)))
    config = tmp_path / "crawl.toml"  # Twisted's own idle time: the sockets pile up past the limit below
    config.write_text("[crawl]\nidle_connection_s = 240\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "siteclass", "crawl", str(sites_csv), "--out", str(out), "--proxy",
                           fixture_web.proxy_url, "--config", str(config), "--quiet"], capture_output=True, text=True,
                          preexec_fn=lambda: _limit(300), timeout=300)
    rows = pd.read_parquet(out / "sites.parquet") if (out / "sites.parquet").is_file() else pd.DataFrame()
    if proc.returncode == 0:
        assert len(rows) == n, "the crawl exited 0 without a row for every site"
    else:
        assert "re-run the same command to resume" in proc.stderr, proc.stderr[-2000:]


def test_idle_connections_close_after_the_setting() -> None:
    settings = scrapy_settings(CrawlSettings.model_validate({"idle_connection_s": 3.5}))
    assert settings[IDLE_KEY] == 3.5
    assert set(settings["DOWNLOAD_HANDLERS"].values()) == {"siteclass.crawling.handlers.SiteHTTPDownloadHandler"}


def test_the_crawl_raises_its_soft_open_file_limit_to_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"the hard open-file limit here is {hard}")
    code = ("import resource; from siteclass.crawling.handlers import raise_open_file_limit; "
            "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], raise_open_file_limit()[0], "
            "resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
    before, reported, after = map(int, proc.stdout.split())
    assert before == 256 and reported == after == min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
