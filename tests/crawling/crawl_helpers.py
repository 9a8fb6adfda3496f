"""Shared constants and the MainCrawl record of the crawl tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fixtures_web import HOSTS

from siteclass.crawling.runner import CrawlResult
from siteclass.demo.web import LocalWeb, RequestRecord

ROOT = Path(__file__).resolve().parents[2]
REAL_PAGES = Path(os.environ.get("SITECLASS_SHARED", ROOT.parent / "shared")) / "data" / "real_pages"

# fast, deterministic settings for tests: one request at a time per site so the proxy log shows the order
TEST_SETTINGS: dict[str, Any] = {
    "page_timeout_s": 3.0, "site_timeout_s": 30.0, "autothrottle": False, "concurrent_requests": 32,
    "concurrent_per_domain": 1, "flush_every": 5, "workers": 0,
}

# site id → (url as given, expected status)
EXPECTED: dict[str, tuple[str, str]] = {
    "ranked": (f"http://{HOSTS.ranked}", "ok"),
    "www_bare": (HOSTS.www_bare, "ok"),
    "chain": (HOSTS.chain, "ok"),
    "loop": (HOSTS.loop, "redirect_loop"),
    "long_chain": (HOSTS.long_chain, "redirect_loop"),
    "robots": (HOSTS.robots, "ok"),
    "robots_all": (HOSTS.robots_all, "blocked_by_robots"),
    "robots_broken": (HOSTS.robots_broken, "ok"),
    "cp1252": (f"https://{HOSTS.cp1252}/", "ok"),
    "cp1252_meta": (HOSTS.cp1252_meta, "ok"),
    "sjis": (HOSTS.sjis, "ok"),
    "huge": (HOSTS.huge, "too_large"),
    "huge_sub": (HOSTS.huge_sub, "ok"),
    "bomb": (HOSTS.bomb, "too_large"),
    "br_bomb": (HOSTS.br_bomb, "too_large"),
    "slow": (HOSTS.slow, "timeout"),
    "pdf": (HOSTS.pdf, "ok"),
    "pdf_home": (HOSTS.pdf_home, "not_html"),
    "flaky": (HOSTS.flaky, "ok"),
    "down": (HOSTS.down, "http_error"),
    "notfound": (HOSTS.notfound, "http_error"),
    "empty": (HOSTS.empty, "empty"),
    "unreachable": (HOSTS.unreachable, "unreachable"),
    "unknown": (HOSTS.unknown, "dns_error"),
    "bad_url": ("not a url", "invalid_input"),
    "empty_url": ("", "invalid_input"),
}


@dataclass
class MainCrawl:
    web: LocalWeb
    result: CrawlResult
    out: Path
    sites: pd.DataFrame
    pages: pd.DataFrame
    raw: pd.DataFrame
    real_hosts: list[str]

    def site(self, site_id: str) -> dict[str, Any]:
        rows = self.sites[self.sites.site_id == site_id]
        assert len(rows) == 1, f"{site_id}: {len(rows)} site rows"
        return dict(rows.iloc[0])

    def pages_of(self, site_id: str) -> pd.DataFrame:
        return self.pages[self.pages.site_id == site_id].sort_values("order")

    def requests(self, host: str) -> list[RequestRecord]:
        return [r for r in self.web.requests_for(host) if r.method != "CONNECT"]

    def paths(self, host: str, robots: bool = False) -> list[str]:
        return [r.path for r in self.requests(host) if robots or r.path != "/robots.txt"]
