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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from siteclass.config import DatasetSettings, SparkSettings
from siteclass.data.io import BATCH_ROWS, table_format
from siteclass.data.sources import Batch, TableSource

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
