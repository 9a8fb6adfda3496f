"""The Spark engine of `siteclass dataset build --engine spark` (any Spark master; `local[*]` by default).

Spark reads the input and runs the per-row work on its executors; the driver then runs the hash-only steps
(near-duplicate LSH, split, balancing) and the deterministic writer shared with the local engine, so both engines
give the same rows, byte for byte.

- ``SparkTableSource`` (``--table``): ``mapInPandas`` joins text columns, cleans them, parses labels, extracts
  registered domains — the same pure functions as the local engine (``TableSource.normalize``).
- ``SparkCrawlSource`` (``--crawl`` + ``--labels``): Spark groups each site's pages, joins them with the sites and
  their labels, orders them by crawl order and cleans them (``mapInArrow`` over ``rows.clean_pages``); the driver
  gets the sites in the local engine's order with cleaned pages.
- ``ordered_arrow_batches``: rows sorted by Spark come back to the driver as Arrow record batches (IPC blobs,
  partition by partition), also used by ``siteclass predict --engine spark``.

On a cluster: ``spark-submit --master spark://HOST:7077 -m siteclass dataset build --engine spark …`` or
``siteclass dataset build --engine spark --spark-master spark://HOST:7077 …`` (pyspark must be installed on the
executors together with siteclass).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from siteclass.config import DatasetSettings, SparkSettings
from siteclass.data.io import BATCH_ROWS, table_format
from siteclass.data.sources import Batch, CrawlSource, TableSource
from siteclass.errors import InputError

_TABLE_DDL = "_mono long, id string, domain string, name string, url string, text string, label array<string>"
_TABLE_ROWS = pa.schema([("_mono", pa.int64()), ("id", pa.string()), ("domain", pa.string()), ("name", pa.string()),
                         ("url", pa.string()), ("text", pa.string()), ("label", pa.list_(pa.string()))])


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
        .config("spark.ui.showConsoleProgress", str(settings.console_progress).lower())
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

        def normalize(batches: Iterator[Any]) -> Iterator[Any]:
            for rb in batches:
                cols = {c: rb.column(c).to_pylist() for c in source.columns}
                out = source.normalize(cols, 0)
                # a missing id is numbered on the driver, in input order (as the local engine does)
                out["id"] = ([str(v) if v is not None else None for v in cols[id_column]] if id_column
                             else [None] * rb.num_rows)
                out["_mono"] = rb.column("_mono")
                yield pa.RecordBatch.from_pydict({k: out[k] for k in _TABLE_ROWS.names}, schema=_TABLE_ROWS)

        rows = ordered_arrow_batches(df, "_mono", normalize, _TABLE_DDL)
        ordinal = 0
        for batch in rebatched(rows, ("id", "domain", "name", "url", "text", "label")):
            batch["id"] = [v if v is not None else str(ordinal + i) for i, v in enumerate(batch["id"])]
            batch["label"] = [v or [] for v in batch["label"]]
            ordinal += len(batch["id"])
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


def ordered_arrow_batches(df: Any, order_column: str, fn: Callable[[Iterator[Any]], Iterator[Any]] | None = None,
                          schema: Any = None) -> Iterator[Any]:
    """The rows of *df*, mapped by *fn* (``mapInArrow`` with *schema*, a DDL string or a StructType; keeps *order_column*) when given,
    sorted by *order_column* and streamed to the driver as Arrow record batches.

    *fn* runs on all executors at once and its output is persisted (``MEMORY_AND_DISK``) before the sort: a Python
    function under a global sort would otherwise run twice (once more for the sort's range sampling). The sorted
    rows are packed into Arrow IPC blobs on the executors (partition order kept) and the driver pulls them
    partition by partition (``toLocalIterator``: bounded memory, any master, no shared file system) and reads them
    with pyarrow — no per-row Python objects on the way. The order is checked.
    """
    from pyspark import StorageLevel

    mapped = None
    if fn is not None:
        mapped = df = df.mapInArrow(fn, schema).persist(StorageLevel.MEMORY_AND_DISK)
        mapped.count()
    try:
        packed = df.orderBy(order_column).mapInArrow(_pack, "data binary")
        yield from _unpacked(packed.toLocalIterator(prefetchPartitions=True), order_column)
    finally:
        if mapped is not None:
            mapped.unpersist()


def _unpacked(rows: Iterator[Any], order_column: str) -> Iterator[Any]:
    import pyarrow.compute as pc

    last = None
    for row in rows:
        for rb in pa.ipc.open_stream(pa.py_buffer(row[0])):
            keys = rb.column(order_column)
            first = keys[0].as_py()
            if (last is not None and first < last) or (rb.num_rows > 1 and not pc.all(
                    pc.greater_equal(keys.slice(1), keys.slice(0, rb.num_rows - 1))).as_py()):
                raise RuntimeError(f"Spark returned rows out of {order_column} order")
            last = keys[rb.num_rows - 1].as_py()
            yield rb


def rebatched(batches: Iterator[Any], keys: tuple[str, ...]) -> Iterator[Batch]:
    """Arrow record batches → column batches of Python lists of exactly BATCH_ROWS rows (the last one shorter),
    as the local engine cuts its input."""
    pending: list[Any] = []
    size = 0
    for rb in batches:
        pending.append(rb)
        size += rb.num_rows
        while size >= BATCH_ROWS:
            table = pa.Table.from_batches(pending)
            yield {k: table.column(k).slice(0, BATCH_ROWS).to_pylist() for k in keys}
            pending, size = table.slice(BATCH_ROWS).to_batches(), size - BATCH_ROWS
    if size:
        table = pa.Table.from_batches(pending)
        yield {k: table.column(k).to_pylist() for k in keys}


# ---------------------------------------------------------------------------- crawl folders
_CRAWL_DDL = ("_pos long, id string, domain string, name string, url string, status string, label array<string>, "
              "pages array<struct<url:string,title:string,text:string>>")
_PAGE = pa.struct([("url", pa.string()), ("title", pa.string()), ("text", pa.string())])
_CRAWL_ROWS = pa.schema([("_pos", pa.int64()), ("id", pa.string()), ("domain", pa.string()), ("name", pa.string()),
                         ("url", pa.string()), ("status", pa.string()), ("label", pa.list_(pa.string())),
                         ("pages", pa.list_(_PAGE))])


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

    def __init__(self, crawl_dir: str | Path, labels: str | Path, page_chars: int, spark: SparkSettings,
                 min_share: float = 0.0) -> None:
        super().__init__(crawl_dir, labels, min_share)
        self.page_chars = page_chars
        self.spark_settings = spark

    @classmethod
    def from_settings(cls, crawl_dir: str | Path, labels: str | Path, settings: DatasetSettings,
                      spark: SparkSettings | None = None) -> SparkCrawlSource:
        return cls(crawl_dir, labels, settings.page_chars, spark or SparkSettings.model_validate({}),
                   settings.min_share)

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
        joined = sites.join(self._grouped_pages(session), "id", "left")
        yield from rebatched(ordered_arrow_batches(joined, "_pos", _normalize_crawl(self.page_chars), _CRAWL_DDL),
                             ("id", "domain", "name", "url", "status", "label", "pages"))
