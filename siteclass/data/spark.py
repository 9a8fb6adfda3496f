"""The Spark engine of `siteclass dataset build --engine spark` (any Spark master; `local[*]` by default).

Spark reads the table and runs the per-row work on its executors with ``mapInPandas``: text columns joined
and cleaned, labels parsed, registered domains extracted — the same pure functions as the local engine
(``TableSource.normalize``). The driver then streams the normalised rows back in input order
(``toLocalIterator``) and runs the hash-only steps (near-duplicate LSH, split, balancing) and the
deterministic writer shared with the local engine, so both engines give the same rows, byte for byte.

On a cluster: ``spark-submit --master spark://HOST:7077 -m siteclass dataset build --engine spark …`` or
``siteclass dataset build --engine spark --spark-master spark://HOST:7077 …`` (pyspark must be installed on the
executors together with siteclass).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from siteclass.config import DatasetSettings, SparkSettings
from siteclass.data.io import BATCH_ROWS, table_format
from siteclass.data.sources import Batch, CrawlSource, TableSource
from siteclass.errors import InputError

_OUT_SCHEMA = "_mono long, id string, domain string, name string, url string, text string, label array<string>"


def _value(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.tolist() if hasattr(v, "tolist") else v


def spark_session(settings: SparkSettings) -> Any:
    """The Spark session every siteclass job uses (dataset build, batch prediction).

    The Python workers run this very interpreter unless PYSPARK_PYTHON says otherwise: a virtualenv that was
    not activated (``.venv/bin/siteclass …``) would otherwise hand the workers the system ``python3``, without
    siteclass or pyarrow.
    """
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(settings.master)
        .appName(settings.app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(settings.batch_size))
        .config("spark.sql.session.timeZone", "UTC")
    )
    if settings.master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    if settings.partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(settings.partitions))
    return builder.getOrCreate()


class SparkTableSource(TableSource):
    """A table read and normalised by Spark; batches come back to the driver in input order."""

    def __init__(self, path: str | Path, text_columns: list[str], label_column: str, spark: SparkSettings) -> None:
        super().__init__(path, text_columns, label_column)
        self.spark_settings = spark

    @classmethod
    def from_settings(cls, path: str | Path, settings: DatasetSettings,
                      spark: SparkSettings | None = None) -> SparkTableSource:
        return cls(path, settings.text_columns, settings.label_column, spark or SparkSettings.model_validate({}))

    def _read(self, session: Any) -> Any:
        fmt, path = table_format(self.path), str(self.path)
        if fmt == "parquet":
            df = session.read.parquet(path)
        elif fmt == "csv":
            sep = "\t" if ".tsv" in path.lower() else ","
            df = session.read.options(header=True, multiLine=True, escape='"', sep=sep).csv(path)
        else:
            df = session.read.json(path)
        return df.select(*[f"`{c}`" for c in self.columns])

    def batches(self) -> Iterator[Batch]:
        from pyspark.sql import functions as F

        session = spark_session(self.spark_settings)
        df = self._read(session).withColumn("_mono", F.monotonically_increasing_id())
        source = TableSource.__new__(TableSource)
        source.__dict__.update({k: v for k, v in self.__dict__.items() if k != "spark_settings"})
        id_column = self.id_column

        def normalize(frames: Iterator[Any]) -> Iterator[Any]:
            import pandas as pd

            for pdf in frames:
                cols = {c: [_value(v) for v in pdf[c].tolist()] for c in source.columns}
                out = source.normalize(cols, 0)
                # a missing id is numbered on the driver, in input order (as the local engine does)
                out["id"] = ([str(v) if v is not None else None for v in cols[id_column]] if id_column
                             else [None] * len(pdf))
                out["_mono"] = pdf["_mono"].tolist()
                yield pd.DataFrame({k: out[k] for k in ("_mono", "id", "domain", "name", "url", "text", "label")})

        rows = df.mapInPandas(normalize, _OUT_SCHEMA).orderBy("_mono").toLocalIterator(prefetchPartitions=True)
        keys = ("id", "domain", "name", "url", "text", "label")
        batch: Batch = {k: [] for k in keys}
        for ordinal, row in enumerate(rows):
            batch["id"].append(row["id"] if row["id"] is not None else str(ordinal))
            for k in keys[1:]:
                batch[k].append(list(row[k] or []) if k == "label" else row[k])
            if len(batch["id"]) >= BATCH_ROWS:
                yield batch
                batch = {k: [] for k in keys}
        if batch["id"]:
            yield batch


# ---------------------------------------------------------------------------- ordered Arrow streaming
BLOB_BYTES = 8 << 20  # Arrow IPC bytes per row shipped to the driver


def _pack(batches: Iterator[Any]) -> Iterator[Any]:
    """Executor side: each Arrow batch → rows of one Arrow IPC stream each (≈ BLOB_BYTES), order kept."""
    import pyarrow as pa

    schema = pa.schema([("data", pa.binary())])
    for rb in batches:
        if rb.num_rows == 0:
            continue
        step = max(1, int(rb.num_rows * BLOB_BYTES / max(1, rb.nbytes)))
        blobs = []
        for start in range(0, rb.num_rows, step):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, rb.schema) as writer:
                writer.write_batch(rb.slice(start, step))
            blobs.append(sink.getvalue().to_pybytes())
        yield pa.RecordBatch.from_arrays([pa.array(blobs, pa.binary())], schema=schema)


def ordered_arrow_batches(df: Any, order_column: str) -> Iterator[Any]:
    """The rows of *df* sorted by *order_column*, streamed to the driver as Arrow record batches.

    Spark sorts; the executors pack the sorted rows into Arrow IPC blobs (``mapInArrow``, partition order kept);
    the driver pulls the blobs partition by partition (``toLocalIterator``: bounded memory, any master, no shared
    file system) and reads them with pyarrow — no per-row Python objects on the way. The order is checked.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    last = None
    for row in df.orderBy(order_column).mapInArrow(_pack, "data binary").toLocalIterator(prefetchPartitions=True):
        for rb in pa.ipc.open_stream(pa.py_buffer(row[0])):
            keys = rb.column(order_column)
            first = keys[0].as_py()
            if (last is not None and first < last) or (rb.num_rows > 1 and not pc.all(
                    pc.greater_equal(keys.slice(1), keys.slice(0, rb.num_rows - 1))).as_py()):
                raise RuntimeError(f"Spark returned rows out of {order_column} order")
            last = keys[rb.num_rows - 1].as_py()
            yield rb


# ---------------------------------------------------------------------------- crawl folders
_PAGE = pa.struct([("url", pa.string()), ("title", pa.string()), ("text", pa.string())])
_CRAWL_ROWS = pa.schema([("_pos", pa.int64()), ("id", pa.string()), ("domain", pa.string()), ("name", pa.string()),
                         ("url", pa.string()), ("status", pa.string()), ("label", pa.list_(pa.string())),
                         ("pages", pa.list_(_PAGE))])
_CRAWL_DDL = ("_pos long, id string, domain string, name string, url string, status string, label array<string>, "
              "pages array<struct<url:string,title:string,text:string>>")


def _page_order(page: Mapping[str, Any]) -> tuple[bool, Any, bool, str]:
    """``ORDER BY "order", url`` with NULLS LAST, as the local engine's DuckDB query."""
    order, url = page.get("order"), page.get("url")
    return order is None, order if order is not None else 0, url is None, url or ""


def _normalize_crawl(page_chars: int):  # type: ignore[no-untyped-def]
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        from siteclass.data.domains import registered_domain
        from siteclass.data.rows import clean_pages

        for rb in batches:
            c = rb.to_pydict()
            domains, pages = [], []
            for home, url, first, raw in zip(c["home"], c["url"], c["first"], c["pages"]):
                domains.append(registered_domain(home) or registered_domain(url))
                # a site_id listed twice in sites.parquet: its pages go to the first row (as the local engine)
                pages.append(clean_pages(sorted(raw, key=_page_order), page_chars) if first and raw else [])
            yield pa.RecordBatch.from_pydict({
                "_pos": c["_pos"], "id": c["id"], "domain": domains, "name": c["name"], "url": c["url"],
                "status": c["status"], "label": [v or [] for v in c["label"]], "pages": pages}, schema=_CRAWL_ROWS)

    return run


class SparkCrawlSource(CrawlSource):
    """A crawl folder whose pages Spark groups by site, joins with the sites and their labels, orders and cleans
    on its executors (``mapInArrow`` over the local engine's pure functions); the driver gets normalised batches in
    the local engine's order (sites by ``site_id``), with cleaned pages (``pages_clean``).

    The checks of the inputs and the matching of label keys to site ids (``id`` or loose ``url``; first match
    wins) run on the driver, exactly as the local engine's, so both engines give the same rows and the same errors.
    """

    pages_clean = True

    def __init__(self, crawl_dir: str | Path, labels: str | Path, page_chars: int, spark: SparkSettings) -> None:
        super().__init__(crawl_dir, labels)
        self.page_chars = page_chars
        self.spark_settings = spark

    @classmethod
    def from_settings(cls, crawl_dir: str | Path, labels: str | Path, settings: DatasetSettings,
                      spark: SparkSettings | None = None) -> SparkCrawlSource:
        return cls(crawl_dir, labels, settings.page_chars, spark or SparkSettings.model_validate({}))

    def _sites_table(self) -> pa.Table:
        seen: set[str] = set()
        cols: dict[str, list[Any]] = {k: [] for k in ("_pos", "id", "name", "url", "home", "status", "label", "first")}
        for pos, s in enumerate(self.sites):
            sid = str(s["site_id"])
            cols["_pos"].append(pos)
            cols["id"].append(sid)
            cols["name"].append(str(s.get("name") or ""))
            cols["url"].append(str(s.get("input_url") or ""))
            cols["home"].append(str(s.get("final_url") or s.get("input_url") or ""))
            cols["status"].append(str(s.get("status") or ""))
            cols["label"].append(self.labels.get(sid, []))
            cols["first"].append(sid not in seen)
            seen.add(sid)
        return pa.table(cols, schema=pa.schema([
            ("_pos", pa.int64()), ("id", pa.string()), ("name", pa.string()), ("url", pa.string()),
            ("home", pa.string()), ("status", pa.string()), ("label", pa.list_(pa.string())), ("first", pa.bool_())]))

    def _grouped_pages(self, session: Any) -> Any:
        from pyspark.sql import functions as F

        reader = session.read
        if self.pages_path.is_dir():
            reader = reader.option("recursiveFileLookup", "true").option("pathGlobFilter", "*.parquet")
        try:
            pages = reader.parquet(str(self.pages_path.resolve())).select(
                F.col("site_id").cast("string").alias("id"),
                F.struct(F.col("order").cast("long").alias("order"), F.col("url").cast("string").alias("url"),
                         F.col("title").cast("string").alias("title"),
                         F.col("text").cast("string").alias("text")).alias("page"))
        except Exception as exc:  # AnalysisException: a missing column, an unreadable file
            raise InputError(f"cannot read {self.pages_path}: {exc}") from exc
        return pages.groupBy("id").agg(F.collect_list("page").alias("pages"))

    def batches(self) -> Iterator[Batch]:
        session = spark_session(self.spark_settings)
        sites = session.createDataFrame(self._sites_table())
        rows = sites.join(self._grouped_pages(session), "id", "left").mapInArrow(
            _normalize_crawl(self.page_chars), _CRAWL_DDL)
        keys = ("id", "domain", "name", "url", "status", "label", "pages")
        pending: list[Any] = []
        size = 0
        for rb in ordered_arrow_batches(rows, "_pos"):  # re-cut to the local engine's batches of BATCH_ROWS
            pending.append(rb)
            size += rb.num_rows
            while size >= BATCH_ROWS:
                table = pa.Table.from_batches(pending)
                yield {k: table.column(k).slice(0, BATCH_ROWS).to_pylist() for k in keys}
                pending, size = table.slice(BATCH_ROWS).to_batches(), size - BATCH_ROWS
        if size:
            table = pa.Table.from_batches(pending)
            yield {k: table.column(k).to_pylist() for k in keys}
