"""`build_dataset`: crawl + labels, or any labeled table → clean, balanced, leak-free train/val/test.

Two streaming passes, memory bounded by hashes and ids:
1. read the input in batches; clean each row (pure functions in ``rows``); drop near-duplicates with an LSH
   index of MinHash signatures; route each kept row to a spool file by (split, order-key bucket);
2. decide min-per-class and balancing on ids/hashes only (``balance``), then read the spool bucket by bucket,
   sort each by its order key and append it to the split file. Same inputs → byte-identical files.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from siteclass.charsets import use_encoding
from siteclass.config import DatasetSettings, SparkSettings, save_settings
from siteclass.data import rows as R
from siteclass.data.balance import Meta, Plan, make_plan
from siteclass.data.dedup import NearDupIndex, signatures
from siteclass.data.io import ParquetSink
from siteclass.data.sources import Batch, CrawlSource, TableSource
from siteclass.data.split import SPLIT_NAMES, bucket_of, copy_keys, group_key, shuffle_key, split_of
from siteclass.errors import InputError
from siteclass.records import domain_extension

PAGE_TYPE = pa.list_(pa.struct([("url", pa.string()), ("title", pa.string()), ("text", pa.string())]))
BUCKET_BYTES = 32 << 20  # input bytes per spool bucket: pass 2 holds one bucket


@dataclass
class DatasetResult:
    out: Path
    counts: dict[str, int]
    labels: list[str]
    multi_label: bool
    stats: dict[str, Any] = field(default_factory=dict)


def output_schema(site_mode: bool, multi_label: bool, weights: bool) -> pa.Schema:
    label = pa.list_(pa.string()) if multi_label else pa.string()
    fields = [("id", pa.string()), ("domain", pa.string()), ("name", pa.string())]
    if site_mode:
        fields += [("url", pa.string()), ("ext", pa.string())]
    fields += [("text", pa.string())]
    if site_mode:
        fields += [("pages", PAGE_TYPE)]
    fields += [("label", label)]
    if weights:
        fields += [("weight", pa.float64())]
    return pa.schema(fields)


def _spool_schema(site_mode: bool) -> pa.Schema:
    base = output_schema(site_mode, True, False)
    return base.append(pa.field("_key", pa.uint64())).append(pa.field("_meta", pa.int64()))


def _input_bytes(path: Path | str) -> int:
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.exists() else 0


class Builder:
    """One build: pass 1 (clean, dedup, route to spool) and pass 2 (plan, order, write)."""

    def __init__(self, source: TableSource | CrawlSource, settings: DatasetSettings, spool: Path,
                 bucket_bits: int) -> None:
        self.source, self.s, self.spool = source, settings, spool
        self.bits = bucket_bits
        self.site_mode = source.site_mode
        self.pages_clean = getattr(source, "pages_clean", False)  # cleaned by the engine (Spark executors)
        self.index = NearDupIndex(settings.dedup_threshold)
        self.drops: Counter[str] = Counter()
        self.page_drops: Counter[str] = Counter()
        self.crawl_status: Counter[str] = Counter()
        self.rows_in = self.pages_in = 0
        self.vocab: dict[str, int] = {}
        # compact per-row state (8 + 1 + 8 + 4·labels bytes): no Python int objects per row
        self.keys = array("Q")
        self.splits = array("b")
        self.offsets = array("q", [0])
        self.label_ids = array("i")
        self._sinks: dict[tuple[int, int], ParquetSink] = {}

    # ------------------------------------------------------------------ pass 1
    def _dedup(self, texts: list[str], groups: list[int]) -> np.ndarray:
        if not self.s.dedup or not texts:
            return np.zeros(len(texts), dtype=np.int8)
        sig, has_words = signatures(texts, self.s.shingle_words)
        return self.index.add(sig, np.asarray(groups, dtype=np.int64), has_words)

    def _table_batch(self, b: Batch) -> tuple[list[str | None], list[str], list[Any]]:
        reasons = [R.row_drop_reason(lab, t, self.s.min_chars) for lab, t in zip(b["label"], b["text"])]
        live = [i for i, r in enumerate(reasons) if r is None]
        dup = self._dedup([b["text"][i] for i in live], [self.rows_in + i for i in live])
        for i, d in zip(live, dup):
            if d:
                reasons[i] = R.NEAR_DUPLICATE
        return reasons, b["text"], [None] * len(reasons)

    def _site_batch(self, b: Batch) -> tuple[list[str | None], list[str], list[Any]]:
        n = len(b["id"])
        reasons: list[str | None] = [None] * n
        pages_of: list[list[dict[str, str]]] = [[] for _ in range(n)]
        docs: list[tuple[int, dict[str, str], str]] = []
        for i in range(n):
            raw = b["pages"][i]
            self.pages_in += len(raw)
            if not b["label"][i]:
                reasons[i] = R.NO_LABEL
                continue
            if not raw:
                reasons[i] = R.CRAWL_FAILED
                self.crawl_status[b["status"][i] or "unknown"] += 1
                continue
            pages = raw if self.pages_clean else R.clean_pages(raw, self.s.page_chars)
            nonempty = [p for p in pages if p["title"] or p["text"]]
            self.page_drops[R.PAGE_EMPTY] += len(pages) - len(nonempty)
            if not nonempty:
                reasons[i] = R.NO_TEXT
            docs.extend((i, p, R.page_text(p, self.s.page_chars)) for p in nonempty)
        dup = self._dedup([d[2] for d in docs], [self.rows_in + d[0] for d in docs])
        for (i, page, _), d in zip(docs, dup):
            if d:
                self.page_drops[R.PAGE_DUP_SITE if d == 1 else R.PAGE_DUP_ACROSS] += 1
            elif len(pages_of[i]) >= self.s.pages_per_site:
                self.page_drops[R.PAGE_BEYOND] += 1
            else:
                pages_of[i].append(page)
        texts = [""] * n
        for i in range(n):
            if reasons[i] is not None:
                continue
            if not pages_of[i]:
                reasons[i] = R.NEAR_DUPLICATE
                continue
            texts[i] = R.site_text(pages_of[i])
            if len(texts[i]) < self.s.min_chars:
                reasons[i] = R.TOO_SHORT
        return reasons, texts, pages_of

    def _sink(self, split: int, bucket: int) -> ParquetSink:
        key = (split, bucket)
        if key not in self._sinks:
            self._sinks[key] = ParquetSink(self.spool / f"{split}-{bucket:04d}.parquet", _spool_schema(self.site_mode))
        return self._sinks[key]

    def _route(self, b: Batch, reasons: list[str | None], texts: list[str], pages: list[Any]) -> None:
        cols: dict[str, list[Any]] = {k: [] for k in _spool_schema(self.site_mode).names}
        splits: list[int] = []
        for i, reason in enumerate(reasons):
            if reason is not None:
                self.drops[reason] += 1
                continue
            rid, dom = b["id"][i], b["domain"][i]
            split = split_of(group_key(dom, rid), self.s.split, self.s.seed)
            key = shuffle_key(self.s.seed, rid, self.rows_in + i)
            labels = b["label"][i]
            cols["id"].append(rid)
            cols["domain"].append(dom)
            cols["name"].append(b["name"][i])
            cols["text"].append(texts[i])
            cols["label"].append(labels)
            cols["_key"].append(key)
            cols["_meta"].append(len(self.keys))
            if self.site_mode:
                cols["url"].append(b["url"][i])
                cols["ext"].append(domain_extension(dom))
                cols["pages"].append(pages[i])
            self.keys.append(key)
            self.splits.append(split)
            self.label_ids.extend(self.vocab.setdefault(lab, len(self.vocab)) for lab in labels)
            self.offsets.append(len(self.label_ids))
            splits.append(split)
        if not splits:
            return
        table = pa.table(cols, schema=_spool_schema(self.site_mode))
        route = np.asarray(splits, dtype=np.int64) * (1 << self.bits) + bucket_of(
            np.asarray(cols["_key"], dtype=np.uint64), self.bits)
        for r in np.unique(route):
            idx = np.flatnonzero(route == r)
            self._sink(int(r) >> self.bits, int(r) & ((1 << self.bits) - 1)).write(table.take(idx))

    def pass1(self) -> None:
        for b in self.source.batches():
            reasons, texts, pages = (self._site_batch(b) if self.site_mode else self._table_batch(b))
            self._route(b, reasons, texts, pages)
            self.rows_in += len(b["id"])
        for sink in self._sinks.values():
            sink.close()

    def meta(self) -> Meta:
        return Meta(np.frombuffer(self.keys, dtype=np.uint64), np.frombuffer(self.splits, dtype=np.int8),
                    np.frombuffer(self.offsets, dtype=np.int64), np.frombuffer(self.label_ids, dtype=np.int32),
                    list(self.vocab))

    # ------------------------------------------------------------------ pass 2
    def _order_bucket(self, t: pa.Table, plan: Plan, keep_names: set[str], multi_label: bool,
                      weights: bool, schema: pa.Schema) -> pa.Table:
        """Expand copies (upsampling), drop copies == 0, filter labels, sort by order key — all in Arrow."""
        import pyarrow.compute as pc

        meta = t.column("_meta").to_numpy()
        copies = plan.copies[meta]
        rep = np.repeat(np.arange(len(meta)), copies)
        first = np.repeat(np.cumsum(copies) - copies, copies)
        copy_no = np.arange(len(rep)) - first
        order = np.argsort(copy_keys(t.column("_key").to_numpy()[rep], copy_no), kind="stable")
        idx = rep[order]
        t = t.take(pa.array(idx, type=pa.int64()))
        labels = t.column("label")
        if not plan.keep_label.all():
            labels = pa.chunked_array([pa.array([[x for x in v if x in keep_names] for v in labels.to_pylist()],
                                                pa.list_(pa.string()))])
        if not multi_label:
            labels = pc.list_element(labels, 0)
        t = t.drop_columns(["_key", "_meta", "label"]).append_column("label", labels)
        if weights:
            t = t.append_column("weight", pa.array(plan.weights[meta[idx]], pa.float64()))
        return t.select(schema.names).cast(schema)

    def pass2(self, out: Path, plan: Plan, vocab: list[str], multi_label: bool,
              fasttext: bool) -> dict[str, Counter[str]]:
        import pyarrow.parquet as pq

        weights = self.s.balance == "weights"
        schema = output_schema(self.site_mode, multi_label, weights)
        keep_names = {vocab[j] for j in np.flatnonzero(plan.keep_label)}
        counts: dict[str, Counter[str]] = {}
        for split, name in enumerate(SPLIT_NAMES):
            sink = ParquetSink(out / f"{name}.parquet", schema)
            counts[name] = Counter()
            ft = (out / f"{name}.txt").open("w", encoding="utf-8", newline="\n") if fasttext else None
            for bucket in range(1 << self.bits):
                path = self.spool / f"{split}-{bucket:04d}.parquet"
                if not path.exists():
                    continue
                t = self._order_bucket(pq.read_table(path), plan, keep_names, multi_label, weights, schema)
                labels = t.column("label").to_pylist()
                for lab in labels:
                    counts[name].update(lab if multi_label else [lab])
                if ft is not None:
                    for lab, text in zip(labels, t.column("text").to_pylist()):
                        ft.write(R.fasttext_line(lab if multi_label else [lab], text) + "\n")
                sink.write(t)
            sink.close()
            if ft is not None:
                ft.close()
        return counts


def _settings(settings: DatasetSettings | None, overrides: dict[str, Any]) -> DatasetSettings:
    s = settings if settings is not None else DatasetSettings.model_validate({})
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return DatasetSettings.model_validate({**s.model_dump(), **clean})
    except Exception as exc:
        raise InputError(f"invalid dataset settings: {exc}") from exc


def build_dataset(
    *,
    crawl: str | Path | None = None,
    labels: str | Path | None = None,
    table: str | Path | None = None,
    text: str | list[str] | None = None,
    label: str | None = None,
    out: str | Path,
    settings: DatasetSettings | None = None,
    spark_settings: SparkSettings | None = None,
    **overrides: Any,
) -> DatasetResult:
    """Build ``out/`` (train/val/test.parquet, labels.json, stats.json, chart, settings.toml) from a crawl and
    its labels, or from any labeled table. Keyword overrides are DatasetSettings fields (``balance="weights"``)."""
    if isinstance(text, str):
        text = [c.strip() for c in text.split(",") if c.strip()]
    s = _settings(settings, {**overrides, "text_columns": text or None, "label_column": label})
    if sum(x is not None for x in (crawl, table)) != 1:
        raise InputError("pass either --crawl DIR with --labels FILE, or --table FILE (with --text and --label)")
    if sum(s.split) <= 0:
        raise InputError(f"--split {','.join(map(str, s.split))} must have a positive sum, e.g. 0.6,0.2,0.2")
    with use_encoding(s.encoding):
        return _build(crawl, labels, table, Path(out), s, spark_settings)


def _build(crawl: str | Path | None, labels: str | Path | None, table: str | Path | None, out: Path,
           s: DatasetSettings, spark_settings: SparkSettings | None) -> DatasetResult:
    source: TableSource | CrawlSource
    if crawl is not None:
        if labels is None:
            raise InputError("--crawl needs --labels FILE (a CSV/Parquet with id or url, and label)")
        if s.engine == "spark":
            from siteclass.data.spark import SparkCrawlSource

            source = SparkCrawlSource.from_settings(crawl, labels, s, spark_settings)
        else:
            source = CrawlSource(crawl, labels, s.min_share)
        size = _input_bytes(Path(crawl) / "pages.parquet")
    else:
        assert table is not None
        if s.min_share > 0:
            raise InputError(f"--min-share {s.min_share} applies to a --labels file with a 'share' column "
                             "(with --crawl); filter --table rows yourself or drop --min-share")
        if s.engine == "spark":
            from siteclass.data.spark import SparkTableSource

            source = SparkTableSource.from_settings(table, s, spark_settings)
        else:
            source = TableSource(table, s.text_columns, s.label_column)
        size = _input_bytes(table) if "://" not in str(table) else 0
    return run_build(source, size, out, s)


def _label_column(source: TableSource | CrawlSource) -> str:
    if isinstance(source, TableSource):
        return f"label column {source.label_column!r} of {source.path}"
    return f"column 'label' of {getattr(source, 'labels_path', 'the labels file')}"


def run_build(source: TableSource | CrawlSource, size: int, out: Path, s: DatasetSettings) -> DatasetResult:
    """Both passes and the reports for a source of normalised row batches (any engine)."""
    from siteclass.data.report import write_reports

    bits = min(10, max(0, math.ceil(math.log2(max(1, size) / BUCKET_BYTES)))) if size > BUCKET_BYTES else 0
    out.mkdir(parents=True, exist_ok=True)
    spool = Path(tempfile.mkdtemp(prefix=".spool-", dir=out))
    try:
        b = Builder(source, s, spool, bits)
        b.pass1()
        if b.rows_in == 0:
            where = getattr(source, "path", None) or getattr(source, "dir", "input")
            raise InputError(f"{where} has no rows; pass a table with at least one row")
        meta = b.meta()
        plan = make_plan(meta, s.min_per_class, s.balance, s.downsample_factor)
        if len(plan.labels) == 1 and s.split[0] > 0:  # nothing to learn: fail here, not at `siteclass train`
            # (a test-only build, --split 0,0,1, may hold one class: it evaluates a model, it trains none)
            raise InputError(f"{_label_column(source)} has one class, {plan.labels[0]!r}, in the rows kept; a "
                             "classifier needs at least two: add rows of other classes (or lower --min-per-class)")
        b.drops[R.CLASS_TOO_SMALL] += plan.class_too_small
        b.drops[R.DOWNSAMPLED] += plan.downsampled
        counts = b.pass2(out, plan, meta.vocab, source.multi_label, s.fasttext_files)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    stats = write_reports(out, b, plan, counts, source, s)
    save_settings(s, out, section="dataset")
    if stats["rows_out"] == 0:
        raise InputError(f"no rows left in {out} after cleaning (drops: {dict(stats['drops'])}); "
                         "check the --label/--text columns or lower --min-chars / --min-per-class")
    return DatasetResult(out, dict(stats["rows_per_split"]), plan.labels, source.multi_label, stats)
