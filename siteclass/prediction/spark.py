"""``siteclass predict --crawl DIR --engine spark``: batch prediction with Spark ``mapInArrow``.

Spark groups each site's pages in one shuffle (first ``pages_per_site`` by crawl order, text cut to ``page_chars``),
joins them to ``sites.parquet`` and runs the model in the Python workers: a model *folder* is loaded once per
worker process and kept for every later batch (workers are reused), a model *object* travels pickled in the task
closure. ONNX-backed, linear and fastText models run without torch on the executors. Spark sorts the result like
sites.parquet and the driver streams it back as Arrow batches (``ordered_arrow_batches``: no Python object per
row) into the same PRED.parquet as the local engine (same schema, same rows).

    spark-submit --master spark://host:7077 $(which siteclass) predict --crawl s3://bucket/crawl \\
        --out pred.parquet --model model/ --engine spark        # or --spark-master for `siteclass` itself
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from siteclass.config import Settings
from siteclass.errors import InputError
from siteclass.labels.overrides import SOURCE_MODEL, Overrides, load_overrides
from siteclass.models.registry import resolve_model
from siteclass.prediction.schema import POSITIONED_SCHEMA, PREDICTION_SCHEMA, PredictResult
from siteclass.records import site_record

_MODELS: dict[str, Any] = {}  # per Python worker: model folder → loaded model


def _worker_model(source: Any) -> Any:
    """The model of a task: a folder is loaded once per Python worker and kept; an object is used as it is."""
    if not isinstance(source, str):
        return resolve_model(source)
    if source not in _MODELS:
        _MODELS[source] = resolve_model(source)
    return _MODELS[source]


def _out_ddl() -> Any:
    """The Spark schema of the model's output: :data:`POSITIONED_SCHEMA`, converted (never written twice)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(POSITIONED_SCHEMA)


def _predict_partition(source: Any, top_k: int, min_confidence: float,  # type: ignore[no-untyped-def]
                       overrides: Overrides | None = None):
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        from siteclass.metrics import apply_min_confidence
        from siteclass.prediction.language import language_warning

        model = _worker_model(source)
        for rb in batches:
            c = rb.to_pydict()
            n = rb.num_rows
            labels: list[Any] = [None] * n
            probability: list[Any] = [None] * n
            top_labels: list[list[str]] = [[] for _ in range(n)]
            top_probs: list[list[float]] = [[] for _ in range(n)]
            sources: list[Any] = [None] * n
            notes: list[Any] = [None] * n
            warnings: list[Any] = [None] * n
            codes: list[Any] = [None] * n
            titles: list[Any] = [None] * n
            todo, records = [], []
            for i, (name, url, domain, pages) in enumerate(zip(c["name"], c["final_url"], c["domain"], c["pages"])):
                if not pages:
                    continue
                page_list = [{"url": p["url"] or "", "title": p["title"] or "", "text": p["text"] or ""} for p in pages]
                todo.append(i)
                records.append(site_record(name or "", url or "", page_list, domain=domain or ""))
                warnings[i] = language_warning(records[-1], c["lang"][i])  # as the local engine
            if records:
                for i, top in zip(todo, model.predict_top_k(records, k=top_k)):
                    d = apply_min_confidence(top, min_confidence)
                    labels[i], probability[i], top_labels[i], top_probs[i] = d.label, d.probability, d.labels, \
                        d.probabilities
                    sources[i], notes[i], codes[i], titles[i] = SOURCE_MODEL, d.note, d.code, d.title
            if overrides:  # the same lookup as the local engine: site id, then the site's registered domain
                for i in range(n):
                    hit = overrides.lookup(c["site_id"][i], c["final_url"][i] or c["input_url"][i], c["domain"][i])
                    if hit is not None:
                        a = hit.prediction()
                        labels[i], probability[i], top_labels[i], top_probs[i] = \
                            a["label"], a["probability"], a["labels"], a["probabilities"]
                        sources[i], notes[i], warnings[i] = a["source"], a["note"], None
                        codes[i] = titles[i] = None
            yield pa.RecordBatch.from_pydict({
                "pos": c["pos"], "site_id": c["site_id"], "name": c["name"], "url": c["input_url"],
                "status": c["status"], "label": labels, "probability": probability, "labels": top_labels,
                "probabilities": top_probs, "source": sources, "note": notes, "warning": warnings,
                "naics_code": codes, "naics_title": titles,
            }, schema=POSITIONED_SCHEMA)

    return run


def predict_crawl_spark(crawl_dir: str | Path, out: str | Path, model: Any, settings: Settings) -> Any:
    """Predict a crawl folder with Spark into *out* (one .parquet file, ordered like sites.parquet)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from siteclass.data.spark import ordered_arrow_batches, spark_session
    from siteclass.models.base import Classifier

    crawl = Path(crawl_dir)
    if not (crawl / "sites.parquet").is_file():
        raise InputError(f"{crawl} is not a crawl folder (no sites.parquet); run `siteclass crawl` first")
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(f"--out {out} must be a .parquet file")
    if model is None:
        raise InputError("--engine spark needs --model (a model folder the executors can read)")
    source: Any = model if isinstance(model, Classifier) else str(Path(model).resolve())
    ds, p = settings.dataset, settings.predict

    spark = spark_session(settings.spark)
    sites = pq.read_table(crawl / "sites.parquet", columns=["site_id", "name", "input_url", "final_url", "status"])
    sites = spark.createDataFrame(sites.append_column("pos", pa.array(range(sites.num_rows), pa.int64())))
    if (crawl / "pages.parquet").is_file():
        # one shuffle: each site's pages collected, ordered like the local engine (crawl order, a missing order
        # last, then url), the first pages_per_site kept, texts cut to page_chars — all in the JVM
        pages = spark.read.parquet(str((crawl / "pages.parquet").resolve()))
        page = F.struct(F.coalesce(F.col("order").cast("int"), F.lit(1 << 15)).alias("_n"), F.col("url"),
                        F.col("title"), F.substring("text", 1, ds.page_chars).alias("text"))
        # the home page's declared language (the first page in crawl order), when the crawl has a lang column
        lang = (F.array_sort(F.collect_list(F.struct(F.coalesce(F.col("order").cast("int"), F.lit(1 << 15)),
                                                      F.col("lang"))))[0]["lang"]
                if "lang" in pages.columns else F.lit(None).cast("string"))
        grouped = pages.groupBy("site_id").agg(
            F.first("domain").alias("domain"), lang.alias("lang"),
            F.slice(F.array_sort(F.collect_list(page)), 1, ds.pages_per_site).alias("pages"))
        joined = sites.join(grouped, "site_id", "left")
    else:
        joined = sites.withColumn("domain", F.lit(None).cast("string")).withColumn(
            "lang", F.lit(None).cast("string")).withColumn(
            "pages", F.lit(None).cast("array<struct<_n:int,url:string,title:string,text:string>>")
        )
    from siteclass.metrics import UNKNOWN, resolve_min_confidence

    driver_model = model if isinstance(model, Classifier) else resolve_model(source)
    overrides = load_overrides(p.overrides, classes=driver_model.classes_) if p.overrides else None  # checked here
    minimum = resolve_min_confidence(p.min_confidence, driver_model)  # the model's own default when unset
    model_fn = _predict_partition(source, p.top_k, minimum, overrides)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    counts: dict[str, int] = {}
    n = predicted = warned = unknown = 0
    try:
        with pq.ParquetWriter(tmp, PREDICTION_SCHEMA) as writer:
            # the model once per site on all executors, then sorted like sites.parquet; Arrow all the way
            for rb in ordered_arrow_batches(joined, "pos", model_fn, _out_ddl()):
                table = pa.Table.from_batches([rb]).drop_columns(["pos"]).cast(PREDICTION_SCHEMA)
                for status, k in zip(*table.column("status").value_counts().flatten()):
                    counts[status.as_py()] = counts.get(status.as_py(), 0) + k.as_py()
                n += table.num_rows
                predicted += table.num_rows - table.column("label").null_count
                warned += table.num_rows - table.column("warning").null_count
                unknown += int(pc.sum(pc.equal(table.column("label"), UNKNOWN)).as_py() or 0)
                writer.write_table(table)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return PredictResult(str(out), n, predicted, counts, warned, unknown, minimum)
