"""The Spark engine (pyspark local mode, the machine's Java) gives the same dataset files as the local engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_helpers import table_rows, words

from siteclass.cli import run


@pytest.mark.slow
def test_spark_and_local_give_the_same_rows(make_table, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    rows = table_rows({"A": 60, "B": 40, "C": 3})
    rows += [{"name": "Dup", "website": "https://dup.com", "description": rows[0]["description"] + " x",
              "label": "B"}, {"name": "NoLabel", "website": "", "description": words(1), "label": ""}]
    table = make_table(rows)
    common = ["--table", str(table), "--text", "name,description", "--label", "label", "--balance", "weights",
              "--min-per-class", "5", "-q"]
    assert run(["dataset", "build", *common, "--out", str(tmp_path / "local")]) == 0
    assert run(["dataset", "build", *common, "--out", str(tmp_path / "spark"), "--engine", "spark",
                "--spark-master", "local[2]"]) == 0
    for name in ("train.parquet", "val.parquet", "test.parquet", "labels.json"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "spark" / name).read_bytes(), name
