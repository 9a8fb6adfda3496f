"""``siteclass predict --crawl DIR --engine spark``: batch prediction with Spark ``mapInPandas``.

Spark groups each site's pages (first ``pages_per_site`` by crawl order, text cut to ``page_chars``), joins them to
``sites.parquet`` and runs the model in the Python workers: a model *folder* is loaded once per worker process and
kept for every later batch (workers are reused), a model *object* travels pickled in the task closure. ONNX-backed,
linear and fastText models run without torch on the executors. The driver streams the result back ordered like
sites.parquet into the same PRED.parquet as the local engine (same schema, same rows).

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

_MODELS: dict[str, Any] = {}  # per Python worker: model folder → loaded model


def _worker_model(source: Any) -> Any:
    if not isinstance(source, str):
        return source
    if source not in _MODELS:
        import siteclass

        _MODELS[source] = siteclass.load_model(source)
    return _MODELS[source]


def _predict_partition(source: Any, top_k: int, min_confidence: float):  # type: ignore[no-untyped-def]
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        from siteclass.metrics import apply_min_confidence
        from siteclass.predict import site_record

        model = _worker_model(source)
        for df in batches:
            labels: list[Any] = [None] * len(df)
            probability: list[Any] = [None] * len(df)
            top_labels: list[list[str]] = [[] for _ in range(len(df))]
            top_probs: list[list[float]] = [[] for _ in range(len(df))]
            todo, records = [], []
            for i, (name, url, domain, pages) in enumerate(zip(df["name"], df["final_url"], df["domain"], df["pages"])):
                if pages is None or len(pages) == 0:
                    continue
                page_list = [{"url": p["url"] or "", "title": p["title"] or "", "text": p["text"] or ""} for p in pages]
                todo.append(i)
                records.append(site_record(name or "", url or "", domain or "", page_list))
            if records:
                for i, top in zip(todo, model.predict_top_k(records, k=top_k)):
                    d = apply_min_confidence(top, min_confidence)
                    labels[i], probability[i], top_labels[i], top_probs[i] = d.label, d.probability, d.labels, \
                        d.probabilities
            yield pd.DataFrame({
                "pos": df["pos"], "site_id": df["site_id"], "url": df["input_url"], "status": df["status"],
                "label": labels, "probability": probability, "labels": top_labels, "probabilities": top_probs,
            })

    return run


def spark_session(settings: Settings) -> Any:
    from siteclass.data.spark import spark_session as session

    return session(settings.spark)


def predict_crawl_spark(crawl_dir: str | Path, out: str | Path, model: Any, settings: Settings) -> Any:
    """Predict a crawl folder with Spark into *out* (one .parquet file, ordered like sites.parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    from siteclass.models.base import Classifier
    from siteclass.predict import PREDICTION_SCHEMA, PredictResult

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

    spark = spark_session(settings)
    sites_pd = pq.read_table(crawl / "sites.parquet", columns=["site_id", "name", "input_url", "final_url", "status"])
    sites_pd = sites_pd.append_column("pos", pa.array(range(sites_pd.num_rows), pa.int64())).to_pandas()
    sites = spark.createDataFrame(sites_pd)
    schema = (
        "pos long, site_id string, url string, status string, label string, probability double, "
        "labels array<string>, probabilities array<double>"
    )
    if (crawl / "pages.parquet").is_file():
        pages = spark.read.parquet(str((crawl / "pages.parquet").resolve()))
        ranked = pages.withColumn("_n", F.row_number().over(Window.partitionBy("site_id").orderBy("order", "url")))
        grouped = (
            ranked.where(F.col("_n") <= ds.pages_per_site)
            .groupBy("site_id")
            .agg(
                F.first("domain").alias("domain"),
                F.sort_array(F.collect_list(F.struct(
                    F.col("_n"), F.col("url"), F.col("title"), F.substring("text", 1, ds.page_chars).alias("text")
                ))).alias("pages"),
            )
        )
        joined = sites.join(grouped, "site_id", "left")
    else:
        joined = sites.withColumn("domain", F.lit(None).cast("string")).withColumn(
            "pages", F.lit(None).cast("array<struct<_n:int,url:string,title:string,text:string>>")
        )
    result = joined.mapInPandas(_predict_partition(source, p.top_k, p.min_confidence), schema).orderBy("pos")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    counts: dict[str, int] = {}
    n = predicted = 0
    rows: list[dict[str, Any]] = []
    try:
        with pq.ParquetWriter(tmp, PREDICTION_SCHEMA) as writer:
            for row in result.toLocalIterator():
                d = row.asDict()
                d.pop("pos")
                d["labels"] = list(d["labels"] or [])
                d["probabilities"] = list(d["probabilities"] or [])
                rows.append(d)
                counts[d["status"]] = counts.get(d["status"], 0) + 1
                n += 1
                predicted += d["label"] is not None
                if len(rows) >= 4096:
                    writer.write_table(pa.Table.from_pylist(rows, PREDICTION_SCHEMA))
                    rows = []
            writer.write_table(pa.Table.from_pylist(rows, PREDICTION_SCHEMA))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return PredictResult(str(out), n, predicted, counts)
