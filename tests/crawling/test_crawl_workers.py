"""Page processing in worker processes (``[crawl] workers``): same output as inline, and a killed worker loses
no page — its pages are tried again in a restarted pool, and a page that kills its worker twice is an error."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from crawl_helpers import REAL_PAGES, TEST_SETTINGS
from fixtures_web import page
from processes import children_running

from siteclass.crawling.pool import CRASH_ENV, CRASH_MARKER
from siteclass.crawling.runner import crawl
from siteclass.demo.web import LocalWeb, Reply

COLUMNS = ["site_id", "url", "title", "meta_description", "lang", "text", "depth", "rank", "click_text"]


def _inputs(web: LocalWeb, n_real: int = 30) -> list[dict[str, str]]:
    files = sorted(REAL_PAGES.glob("*.html"))[:n_real] if REAL_PAGES.is_dir() else []
    rows = []
    for i, path in enumerate(files):
        host = f"workers-real-{i:02d}.com"
        web.add(host, "/", Reply(path.read_bytes(), content_type="text/html"))
        rows.append({"id": f"r{i}", "url": host})
    from siteclass.demo import SITES_DIR

    for i, folder in enumerate(sorted(p for p in SITES_DIR.iterdir() if p.is_dir())[:6]):
        web.add_folder(folder.name, folder)
        rows.append({"id": f"d{i}", "url": folder.name})
    return rows


def _pages(out: Path) -> pd.DataFrame:
    pages = pd.read_parquet(out / "pages.parquet")
    return pages[COLUMNS].sort_values(["site_id", "url"]).reset_index(drop=True)


def test_workers_give_the_same_pages_as_inline(fixture_web: LocalWeb, tmp_path: Path) -> None:
    inputs = _inputs(fixture_web)
    crawl(inputs, tmp_path / "inline", proxy=fixture_web.proxy_url, progress=False, **TEST_SETTINGS)
    settings = {**TEST_SETTINGS, "workers": 2, "max_pending_pages": 3}
    crawl(inputs, tmp_path / "pool", proxy=fixture_web.proxy_url, progress=False, **settings)
    inline, pool = _pages(tmp_path / "inline"), _pages(tmp_path / "pool")
    assert len(inline) >= len(inputs)
    pd.testing.assert_frame_equal(inline, pool)
    raw_inline = pd.read_parquet(tmp_path / "inline" / "raw.parquet").sort_values("url").reset_index(drop=True)
    raw_pool = pd.read_parquet(tmp_path / "pool" / "raw.parquet").sort_values("url").reset_index(drop=True)
    pd.testing.assert_frame_equal(raw_inline, raw_pool)


def _crash_site(web: LocalWeb, host: str, crash_path: str) -> None:
    links = "".join(f"<a href='/{p}'>{p}</a> " for p in ("about-us", "services", "team"))
    for path in ("/", "/about-us", "/services", "/team"):
        marker = CRASH_MARKER.decode() if path == crash_path else ""
        body = f"{path} of {host}: we repair pipes and boilers for homes in town " * 20
        web.add(host, path, Reply(page(f"{host} {path}", body + marker, links).encode(), content_type="text/html"))


def test_a_killed_worker_is_restarted_and_its_page_kept(fixture_web: LocalWeb, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = [f"crash-once-{i}.com" for i in range(4)]
    for i, host in enumerate(hosts):
        _crash_site(fixture_web, host, "/services" if i == 1 else "-")
    inputs = [{"id": h, "url": h} for h in hosts]
    crawl(inputs, tmp_path / "inline", proxy=fixture_web.proxy_url, progress=False, **TEST_SETTINGS)
    flag = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, str(flag))
    crawl(inputs, tmp_path / "pool", proxy=fixture_web.proxy_url, progress=False, **{**TEST_SETTINGS, "workers": 2})
    assert flag.exists(), "the worker was not killed: the test proves nothing"
    pool = _pages(tmp_path / "pool")
    assert any(u.endswith("/services") for u in pool.url)
    pd.testing.assert_frame_equal(_pages(tmp_path / "inline"), pool)
    assert set(pd.read_parquet(tmp_path / "pool" / "sites.parquet").status) == {"ok"}


def test_a_page_that_kills_its_worker_twice_is_an_error(fixture_web: LocalWeb, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _crash_site(fixture_web, "crash-home.com", "/")
    _crash_site(fixture_web, "crash-sub.com", "/team")
    _crash_site(fixture_web, "crash-none.com", "-")
    monkeypatch.setenv(CRASH_ENV, "always")
    inputs = [{"id": h, "url": h} for h in ("crash-home.com", "crash-sub.com", "crash-none.com")]
    crawl(inputs, tmp_path, proxy=fixture_web.proxy_url, progress=False, **{**TEST_SETTINGS, "workers": 1})
    sites = pd.read_parquet(tmp_path / "sites.parquet").set_index("site_id")
    assert sites.status["crash-home.com"] == "unreachable"
    assert "page worker process died twice" in sites.error["crash-home.com"]
    assert sites.status["crash-sub.com"] == "ok" and sites.status["crash-none.com"] == "ok"
    pages = pd.read_parquet(tmp_path / "pages.parquet")
    sub = {u.rstrip("/").rsplit("/", 1)[-1] for u in pages[pages.site_id == "crash-sub.com"].url}
    assert "team" not in sub and {"about-us", "services"} <= sub
    assert len(pages[pages.site_id == "crash-none.com"]) == 4


def test_workers_setting_defaults_and_former_name() -> None:
    import json

    from siteclass.config import CrawlSettings
    from siteclass.crawling.pool import worker_count
    from siteclass.crawling.scrapy_settings import SETTINGS_KEY
    from siteclass.crawling.scrapyd.state import job_settings

    assert CrawlSettings.model_validate({"extract_processes": 3}).workers == 3  # a settings.toml from before #21
    assert worker_count(CrawlSettings().workers) == (os.cpu_count() or 1)
    assert worker_count(0) == 0
    # Scrapyd jobs process their pages inline unless workers is set
    assert json.loads(job_settings(CrawlSettings())[SETTINGS_KEY])["workers"] == 0
    assert json.loads(job_settings(CrawlSettings(workers=2))[SETTINGS_KEY])["workers"] == 2


def test_a_page_pool_starts_its_processes_before_the_first_page() -> None:
    """The processes start with the pool (their imports overlap Scrapy's start-up), not on the first page."""
    import time

    psutil = pytest.importorskip("psutil")
    from siteclass.crawling.pool import PagePool

    pool = PagePool(2)
    try:
        deadline = time.monotonic() + 20  # a spawn takes about 0.5 s
        workers: list[object] = []
        while time.monotonic() < deadline:
            # the pool's spawn children (multiprocessing's resource tracker is another child)
            workers = children_running(psutil, os.getpid(), "spawn_main", recursive=False)
            if len(workers) == 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2
    finally:
        pool.close()
