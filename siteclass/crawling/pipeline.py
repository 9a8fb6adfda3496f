"""Crawl output: Parquet parts written as sites finish, resume from them, and the final merge.

Layout under OUT (a folder or any fsspec URL such as ``s3://bucket/prefix``)::

    parts/part-<id>.pages.parquet   parts/part-<id>.raw.parquet   parts/part-<id>.sites.parquet
    pages.parquet  raw.parquet  sites.parquet  settings.toml        (after the merge)

A part is committed by its ``.sites.parquet`` file, written last (locally through a temporary name and an
atomic rename; object stores put whole objects). Resume reads the site ids of committed parts and merged
files; pages of an uncommitted part (a crawl killed while writing) are ignored and overwritten.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siteclass.crawling.items import (
    INVALID_INPUT,
    PAGE_SCHEMA,
    RAW_SCHEMA,
    SITE_SCHEMA,
    SiteResult,
    SiteRow,
    to_table,
)

PARTS = "parts"
FILES = {"pages": PAGE_SCHEMA, "raw": RAW_SCHEMA, "sites": SITE_SCHEMA}


class OutputStore:
    """Reads and writes the crawl output under *out* through fsspec."""

    def __init__(self, out: str) -> None:
        import fsspec

        self.out = str(out)
        self.fs, root = fsspec.core.url_to_fs(self.out)
        self.root = root.rstrip("/")
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def path(self, *names: str) -> str:
        return "/".join([self.root, *names])

    def exists(self, *names: str) -> bool:
        return bool(self.fs.exists(self.path(*names)))

    def write_table(self, table: pa.Table, *names: str) -> None:
        final = self.path(*names)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if not self.local:
            with self.fs.open(final, "wb") as fh:
                pq.write_table(table, fh, compression="zstd")
            return
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)

    def write_text(self, text: str, *names: str) -> None:
        final = self.path(*names)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(final, "w", encoding="utf-8") as fh:
            fh.write(text)

    def read_table(self, *names: str, columns: list[str] | None = None) -> pa.Table:
        with self.fs.open(self.path(*names), "rb") as fh:
            # ParquetFile, not pq.read_table: the latter imports pyarrow.dataset (~0.4 s) for one plain file
            return pq.ParquetFile(fh).read(columns=columns)

    def part_ids(self) -> list[str]:
        """Committed parts (those with a .sites.parquet), oldest first."""
        self.fs.invalidate_cache()
        if not self.fs.exists(self.path(PARTS)):
            return []
        names = [p.rsplit("/", 1)[-1] for p in self.fs.ls(self.path(PARTS), detail=False)]
        return sorted(n.removesuffix(".sites.parquet") for n in names if n.endswith(".sites.parquet"))

    # ----- parts -----
    def write_part(self, results: list[SiteResult]) -> str:
        part = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self.write_table(to_table([p for r in results for p in r.pages], PAGE_SCHEMA), PARTS, f"{part}.pages.parquet")
        self.write_table(to_table([x for r in results for x in r.raw], RAW_SCHEMA), PARTS, f"{part}.raw.parquet")
        self.write_table(to_table([r.site for r in results], SITE_SCHEMA), PARTS, f"{part}.sites.parquet")
        return part

    def finished_site_ids(self) -> set[str]:
        done: set[str] = set()
        tables = [self.read_table(PARTS, f"{p}.sites.parquet", columns=["site_id", "status"]) for p in self.part_ids()]
        if self.exists("sites.parquet"):
            tables.append(self.read_table("sites.parquet", columns=["site_id", "status"]))
        for table in tables:
            for sid, status in zip(table["site_id"].to_pylist(), table["status"].to_pylist()):
                if status != INVALID_INPUT:
                    done.add(sid)
        return done

    # ----- merge -----
    def merge(self, invalid: Iterable[tuple[int, SiteRow]] = (), order: dict[str, int] | None = None) -> pa.Table:
        """Fold committed parts into pages/raw/sites.parquet (one row per site id) and delete the parts.

        *invalid* (input position, row) pairs — this run's invalid_input rows — replace those of earlier runs;
        *order* (site id → input position) orders sites.parquet like the input.
        """
        parts = self.part_ids()
        sources: list[tuple[str, pa.Table]] = []
        if self.exists("sites.parquet"):
            old = self.read_table("sites.parquet")
            sources.append(("", old.filter(pc.not_equal(old["status"], INVALID_INPUT))))
        for part in parts:
            sources.append((part, self.read_table(PARTS, f"{part}.sites.parquet")))
        keep: dict[str, set[str]] = {}  # source → site ids taken from it
        seen: set[str] = set()
        site_tables = []
        for source, table in sources:
            mask = []
            for sid in table["site_id"].to_pylist():
                mask.append(sid not in seen)
                seen.add(sid)
            kept = table.filter(pa.array(mask, pa.bool_())) if table.num_rows else table
            keep[source] = set(kept["site_id"].to_pylist())
            site_tables.append(kept.cast(SITE_SCHEMA))
        invalid = list(invalid)
        site_tables.append(to_table([row for _, row in invalid], SITE_SCHEMA))
        sites = pa.concat_tables(site_tables)
        order = order or {}
        last = max([*order.values(), *(pos for pos, _ in invalid), 0]) + 1
        crawled = sites.num_rows - len(invalid)
        positions = [order.get(s, last) for s in sites["site_id"].to_pylist()[:crawled]]
        positions += [pos for pos, _ in invalid]
        sites = sites.take(pa.array(sorted(range(len(positions)), key=lambda i: positions[i]), pa.int64()))
        # the two files side by side: pyarrow's (de)compression releases the GIL, so the merge at the end of a
        # crawl takes about the time of the larger file rather than the sum of both
        with ThreadPoolExecutor(max_workers=2) as merging:
            for done in [merging.submit(self._merge_rows, name, parts, keep) for name in ("pages", "raw")]:
                done.result()
        self.write_table(sites, "sites.parquet")
        for part in parts:
            for name in FILES:
                target = self.path(PARTS, f"{part}.{name}.parquet")
                if self.fs.exists(target):
                    self.fs.rm(target)
        return sites

    def _merge_rows(self, name: str, parts: list[str], keep: dict[str, set[str]]) -> None:
        schema = FILES[name]
        final = self.path(f"{name}.parquet")
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}" if self.local else self.path(f".{name}.parquet.merging")
        inputs: list[tuple[str, str]] = []
        if self.fs.exists(final):
            inputs.append(("", final))
        inputs += [(p, self.path(PARTS, f"{p}.{name}.parquet")) for p in parts]
        with self.fs.open(tmp, "wb") as out_fh, pq.ParquetWriter(out_fh, schema, compression="zstd") as writer:
            for source, path in inputs:
                if not self.fs.exists(path):
                    continue
                ids = pa.array(sorted(keep.get(source, set())), pa.string())
                with self.fs.open(path, "rb") as in_fh:
                    reader = pq.ParquetFile(in_fh)
                    for batch in reader.iter_batches(batch_size=2048):
                        table = pa.Table.from_batches([batch]).cast(schema)
                        table = table.filter(pc.is_in(table["site_id"], value_set=ids))
                        if table.num_rows:
                            writer.write_table(table)
        if self.local:
            os.replace(tmp, final)
        else:
            self.fs.mv(tmp, final)


def finished_site_ids(out: str) -> set[str]:
    """Site ids already crawled under *out* (any status but invalid_input)."""
    return OutputStore(out).finished_site_ids()


class ParquetPipeline:
    """Scrapy item pipeline: buffer finished sites, write a part every ``flush_every`` sites or
    ``flush_interval_s`` seconds, and at close. With ``SITECLASS_PROGRESS=1`` in the environment, one JSON line
    per finished site goes to stdout for the parent's progress bar."""

    def __init__(self, crawler: Any = None) -> None:
        self.crawler = crawler
        self.buffer: list[SiteResult] = []
        self.store: OutputStore | None = None
        self.flush_every = 50
        self.flush_interval_s = 10.0
        self.last_flush = time.monotonic()
        self.progress = os.environ.get("SITECLASS_PROGRESS") == "1"

    @classmethod
    def from_crawler(cls, crawler: Any) -> ParquetPipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.store = OutputStore(spider.out)
        self.flush_every = spider.crawl_settings.flush_every
        self.flush_interval_s = spider.crawl_settings.flush_interval_s

    def close_spider(self) -> None:
        self._flush()

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, SiteResult):
            return item
        self.buffer.append(item)
        if len(self.buffer) >= self.flush_every or time.monotonic() - self.last_flush >= self.flush_interval_s:
            self._flush()
        if self.progress:
            row = item.site
            sys.stdout.write(json.dumps({"site_id": row.site_id, "status": row.status, "pages": row.pages}) + "\n")
            sys.stdout.flush()
        return item

    def _flush(self) -> None:
        self.last_flush = time.monotonic()
        if self.buffer and self.store is not None:
            self.store.write_part(self.buffer)
            self.buffer = []
