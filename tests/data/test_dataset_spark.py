"""The Spark engine (pyspark local mode, the machine's Java) gives the same dataset files as the local engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dataset_helpers import table_rows, words
from test_dataset_crawl import crawl_and_labels  # noqa: F401  (the crawl folder fixture of the local engine)

from siteclass.cli import run
from siteclass.data.build import build_dataset

FILES = ("train.parquet", "val.parquet", "test.parquet", "labels.json", "stats.json", "class_distribution.png")


@pytest.fixture(scope="module")
def spark() -> Any:
    """One Spark session (local[2]) for the module: every build's getOrCreate() reuses it."""
    pytest.importorskip("pyspark")
    from siteclass.config import SparkSettings
    from siteclass.data.spark import spark_session

    return spark_session(SparkSettings(master="local[2]", partitions=2))


def _same_files(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow  # it starts Spark
def test_spark_session_prints_no_stage_progress_of_its_own(spark: Any) -> None:
    # siteclass shows its own progress; Spark's "[Stage 3:>  (0 + 2) / 2]" lines would interleave with it
    assert spark.conf.get("spark.ui.showConsoleProgress") == "false"


@pytest.mark.slow
def test_spark_and_local_give_the_same_rows(spark: Any, make_table, tmp_path: Path) -> None:
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


@pytest.mark.slow
def test_crawl_folder_on_spark_gives_the_local_rows(spark: Any, crawl_and_labels: tuple[Path, Path],  # noqa: F811
                                                     tmp_path: Path) -> None:
    """Pages written in reverse, duplicates within and across sites, failed/empty sites, a multi-label row,
    labels for sites missing from the crawl, page text cut to page_chars (a cut that ends on a space)."""
    crawl, labels = crawl_and_labels
    pages = pq.read_table(crawl / "pages.parquet").to_pylist()
    pages[0]["text"] = "  Long\tpage " + "x" * 89 + "   trailing words " + words(9, 80)
    pq.write_table(pq.read_table(crawl / "pages.parquet").from_pylist(pages, pq.read_schema(crawl / "pages.parquet")),
                   crawl / "pages.parquet")
    opts: dict[str, Any] = {"pages_per_site": 3, "min_chars": 30, "page_chars": 100}
    local = build_dataset(crawl=crawl, labels=labels, out=tmp_path / "local", **opts)
    on_spark = build_dataset(crawl=crawl, labels=labels, out=tmp_path / "spark", engine="spark", **opts)
    _same_files(tmp_path / "local", tmp_path / "spark")
    assert local.stats == on_spark.stats and local.counts == on_spark.counts
    st = json.loads((tmp_path / "spark" / "stats.json").read_text())
    assert st["source"] == "crawl" and st["rows_in"] == 42 and st["rows_out"] > 20
    assert st["page_drops"]["duplicate_across_sites"] == 2 and st["labels_missing_from_crawl"]["count"] == 2


@pytest.mark.slow
def test_crawl_pages_as_a_folder_of_parts(spark: Any, crawl_and_labels: tuple[Path, Path],  # noqa: F811
                                          tmp_path: Path) -> None:
    """pages.parquet as a folder of part files (a merged or Spark-written crawl): same rows on both engines."""
    crawl, labels = crawl_and_labels
    table = pq.read_table(crawl / "pages.parquet")
    (crawl / "pages.parquet").unlink()
    (crawl / "pages.parquet" / "part=a").mkdir(parents=True)
    pq.write_table(table.slice(0, 50), crawl / "pages.parquet" / "part-0.parquet")
    pq.write_table(table.slice(50), crawl / "pages.parquet" / "part=a" / "part-1.parquet")
    local = build_dataset(crawl=crawl, labels=labels, out=tmp_path / "local", split=(0, 0, 1), min_chars=10)
    on_spark = build_dataset(crawl=crawl, labels=labels, out=tmp_path / "spark", split=(0, 0, 1), min_chars=10,
                             engine="spark")
    assert local.stats == on_spark.stats and local.stats["pages_in"] == table.num_rows
    _same_files(tmp_path / "local", tmp_path / "spark")


@pytest.mark.parametrize("case", ["no_key_column", "no_pages", "pages_without_title"])
def test_bad_crawl_input_gives_the_local_error(crawl_and_labels: tuple[Path, Path], tmp_path: Path,  # noqa: F811
                                               case: str, capsys: pytest.CaptureFixture) -> None:
    """Checked on the driver before any Spark session starts: the same message, exit code 2."""
    crawl, labels = crawl_and_labels
    if case == "no_key_column":
        labels = tmp_path / "bad.csv"
        labels.write_text("site,label\nx,Retail\n", encoding="utf-8")
    elif case == "no_pages":
        (crawl / "pages.parquet").unlink()
    else:
        pq.write_table(pq.read_table(crawl / "pages.parquet").drop_columns(["title"]), crawl / "pages.parquet")
    errors = []
    for engine in ("local", "spark"):
        code = run(["dataset", "build", "--crawl", str(crawl), "--labels", str(labels), "--out",
                    str(tmp_path / engine), "--engine", engine, "-q"])
        errors.append((code, capsys.readouterr().err.strip()))
    assert errors[0] == errors[1] and errors[0][0] == 2 and errors[0][1].startswith("error: "), errors
