"""Helpers of the dataset tests: small hand-made tables and crawl folders in the documented schemas."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from siteclass.crawling.items import PAGE_SCHEMA as PAGES_SCHEMA  # the crawl output's schemas

VOCAB = [f"{a}{b}" for a in ("lum", "kor", "vex", "tal", "mir", "qua", "zen", "pol", "dra", "fin", "gor", "hex")
         for b in ("a", "o", "is", "um", "ex", "ar", "on", "it", "us", "el")]

SITES_SCHEMA = pa.schema([
    ("site_id", pa.string()), ("name", pa.string()), ("input_url", pa.string()), ("final_url", pa.string()),
    ("status", pa.string()), ("error", pa.string()), ("pages", pa.int32()), ("elapsed_s", pa.float64()),
])
RAW_SCHEMA = pa.schema([("site_id", pa.string()), ("url", pa.string()), ("html", pa.string())])


def words(seed: int, n: int = 40) -> str:
    """A random but reproducible text of *n* made-up words (distinct seeds: not near-duplicates)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def write_crawl(folder: Path, sites: list[dict[str, Any]]) -> Path:
    """sites: dicts with id, name, url, status, pages (list of (path, title, text)) → a crawl folder."""
    folder.mkdir(parents=True, exist_ok=True)
    site_rows, page_rows, raw_rows = [], [], []
    when = datetime(2026, 1, 1, tzinfo=UTC)
    for s in sites:
        host = s["url"].split("://", 1)[1].strip("/")
        pages = s.get("pages", [])
        site_rows.append({"site_id": s["id"], "name": s.get("name", s["id"]), "input_url": s["url"],
                          "final_url": s["url"] if pages else "", "status": s.get("status", "ok" if pages else "dns_error"),
                          "error": "", "pages": len(pages), "elapsed_s": 0.5})
        for order, (path, title, text) in enumerate(pages, start=1):
            url = f"https://{host}{path}"
            page_rows.append({"site_id": s["id"], "input_url": s["url"], "url": url, "domain": host.removeprefix("www."),
                              "path": path, "depth": 0 if order == 1 else 1, "rank": order - 1, "order": order,
                              "click_text": "", "title": title, "meta_description": "", "lang": "en", "text": text,
                              "status": 200, "content_type": "text/html", "bytes": len(text), "fetched_at": when})
            raw_rows.append({"site_id": s["id"], "url": url, "html": f"<html><body>{text}</body></html>"})
    # pages deliberately written in reverse order: the build must sort by site and crawl order itself
    pq.write_table(pa.Table.from_pylist(site_rows, schema=SITES_SCHEMA), folder / "sites.parquet")
    pq.write_table(pa.Table.from_pylist(page_rows[::-1], schema=PAGES_SCHEMA), folder / "pages.parquet")
    pq.write_table(pa.Table.from_pylist(raw_rows, schema=RAW_SCHEMA), folder / "raw.parquet")
    return folder


def table_rows(n_per_class: dict[str, int], start: int = 0) -> list[dict[str, Any]]:
    """Rows with distinct domains and distinct texts, classes interleaved."""
    rows = []
    i = start
    for label, n in n_per_class.items():
        for _ in range(n):
            rows.append({"name": f"Company {i}", "website": f"https://www.company{i}.com/",
                         "description": f"{label.lower()} {words(i, 30)}", "label": label})
            i += 1
    return rows

