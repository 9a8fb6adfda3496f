"""siteclass predict: batch prediction over a crawl folder (streamed, bounded memory), a sites file crawled
first, and one site crawled live — with real Scrapy crawls of LocalWeb sites through its proxy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent / "serve"))

import serve_models

from siteclass.config import Settings
from siteclass.demo.web import LocalWeb
from siteclass.errors import InputError
from siteclass.prediction import PREDICTION_SCHEMA, predict, predict_crawl


@pytest.fixture(scope="module")
def model() -> serve_models.KeywordClassifier:
    return serve_models.trained()


def _settings(**predict: object) -> Settings:
    s = Settings()
    s.predict.progress = False
    for k, v in predict.items():
        setattr(s.predict, k, v)
    return s


def test_one_row_per_site_in_input_order_with_failed_sites(tmp_path: Path, model) -> None:
    truth = serve_models.write_crawl(tmp_path / "crawl", 300, chunk=100)
    out = tmp_path / "out" / "pred.parquet"
    result = predict_crawl(tmp_path / "crawl", out, model, _settings(top_k=2, batch_size=32))
    table = pq.read_table(out)
    assert table.schema.equals(PREDICTION_SCHEMA)
    sites = pq.read_table(tmp_path / "crawl" / "sites.parquet")
    assert table.column("site_id").to_pylist() == sites.column("site_id").to_pylist()
    assert result.n_sites == 300 and result.n_predicted == len(truth) == 270
    assert result.status_counts == {"ok": 270, "unreachable": 30}
    for row in table.to_pylist():
        if row["status"] == "ok":
            assert row["label"] == truth[row["site_id"]]
            assert len(row["labels"]) == 2 and row["labels"][0] == row["label"]
            assert row["probabilities"] == sorted(row["probabilities"], reverse=True)
            assert row["probability"] == row["probabilities"][0]
        else:
            assert row["label"] is None and row["labels"] == [] and row["probability"] is None
    assert (tmp_path / "out" / "pred.settings.toml").is_file()


def test_pages_scattered_across_the_file_give_the_same_predictions(tmp_path: Path, model) -> None:
    serve_models.write_crawl(tmp_path / "grouped", 120, chunk=1000)
    serve_models.write_crawl(tmp_path / "scattered", 120, chunk=1000, interleave=True)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    predict_crawl(tmp_path / "grouped", a, model, _settings())
    predict_crawl(tmp_path / "scattered", b, model, _settings())
    assert pq.read_table(a).to_pylist() == pq.read_table(b).to_pylist()


def test_min_confidence_labels_unknown_but_keeps_the_guesses(tmp_path: Path, model) -> None:
    serve_models.write_crawl(tmp_path / "crawl", 20, text_chars=30)
    out = tmp_path / "pred.parquet"
    predict_crawl(tmp_path / "crawl", out, model, _settings(min_confidence=1.0))
    ok = [r for r in pq.read_table(out).to_pylist() if r["status"] == "ok"]
    assert ok and all(r["label"] == "unknown" and r["labels"] and r["probability"] < 1.0 for r in ok)


def test_bad_inputs_name_what_is_wrong(tmp_path: Path, model) -> None:
    with pytest.raises(InputError, match=r"sites\.parquet"):
        predict_crawl(tmp_path, tmp_path / "p.parquet", model, _settings())
    with pytest.raises(InputError, match="exactly one"):
        predict("a.com", crawl=tmp_path, model=model)
    with pytest.raises(InputError, match="--out"):
        predict(crawl=tmp_path, model=model)


MEMORY_SCRIPT = """
import json, resource, sys
sys.path.insert(0, {serve!r})
import serve_models
from siteclass.config import Settings
from siteclass.prediction import BatchPredictor
s = Settings(); s.predict.progress = False; s.predict.memory_limit_mb = 64
model = serve_models.trained_length()
r = BatchPredictor.from_settings(model, s).predict_crawl(sys.argv[1], sys.argv[2])
print(json.dumps({{"n": r.n_sites, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_sites(tmp_path: Path) -> None:
    """Peak RSS predicting 20K sites (~110 MB of page text) stays near the peak for 1K sites."""
    script = tmp_path / "mem.py"
    script.write_text(MEMORY_SCRIPT.format(serve=str(Path(__file__).parent / "serve")))
    peaks = {}
    for n, scattered in ((1000, False), (20000, False), (20000, True)):
        crawl = tmp_path / f"crawl{n}{scattered}"
        serve_models.write_crawl(crawl, n, text_chars=2000, chunk=500, interleave=scattered)
        proc = subprocess.run([sys.executable, str(script), str(crawl), str(tmp_path / f"p{n}{scattered}.parquet")],
                              capture_output=True, text=True, timeout=300, check=True)
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        assert got["n"] == n
        peaks[n, scattered] = got["peak_mb"]
    text_mb = 20000 * 0.9 * 3 * 2000 / 2**20
    assert text_mb > 100
    # loading the pages would add more than text_mb; streaming adds a few batches, regrouping a few partitions
    assert peaks[20000, False] - peaks[1000, False] < 60, peaks
    assert peaks[20000, True] - peaks[1000, False] < 90, peaks


HOME = """<html><head><title>Good Pipes</title></head><body><h1>Good Pipes</h1>
<p>We fix pipes, drains and leaks for homes. Plumbing for the whole county since 1990.</p>
<a href="/contact">Contact</a> <a href="/about-us">About us</a></body></html>"""
ABOUT = "<html><title>About</title><body><p>Family plumbing company fixing pipes and drains.</p></body></html>"
BAKERY = "<html><title>Buns</title><body><p>Fresh bread, cakes and pastries baked daily.</p></body></html>"


@pytest.fixture(scope="module")
def web():
    with LocalWeb() as w:
        w.add_site("goodpipes.com", {"/": HOME, "/about-us": ABOUT, "/contact": "<p>call</p>"})
        w.add_site("buns.com", {"/": BAKERY})
        yield w


def _crawl_settings(web: LocalWeb) -> Settings:
    s = _settings()
    s.crawl.proxy = web.proxy_url
    s.crawl.autothrottle = False
    s.crawl.max_pages = 2
    return s


def test_one_url_is_crawled_live_and_lists_the_pages_used(web: LocalWeb, model) -> None:
    got = predict("goodpipes.com", name="Good Pipes", model=model, settings=_crawl_settings(web))
    assert not isinstance(got, type(None))
    assert got.status == "ok" and got.label == "plumbing"  # type: ignore[union-attr]
    assert [p["url"] for p in got.pages] == ["http://goodpipes.com/", "http://goodpipes.com/about-us"]  # type: ignore[union-attr]
    assert "/about-us" in web.paths_for("goodpipes.com")


def test_a_sites_file_is_crawled_then_predicted(tmp_path: Path, web: LocalWeb, model) -> None:
    sites = tmp_path / "sites.csv"
    sites.write_text("id,name,url\na,Good Pipes,goodpipes.com\nb,Buns,buns.com\nc,Nobody,nowhere-at-all.com\n")
    out = tmp_path / "pred.parquet"
    result = predict(sites=sites, out=out, model=model, settings=_crawl_settings(web))
    rows = pq.read_table(out).to_pylist()
    assert [r["site_id"] for r in rows] == ["a", "b", "c"]
    assert [r["label"] for r in rows] == ["plumbing", "bakery", None]
    assert rows[2]["status"] == "dns_error"
    assert result.n_sites == 3  # type: ignore[union-attr]
    assert (tmp_path / "pred.crawl" / "pages.parquet").is_file()


@pytest.mark.slow
def test_spark_engine_gives_the_same_predictions_as_the_local_engine(tmp_path: Path) -> None:
    """mapInArrow on Spark local mode vs the local streaming engine, same crawl and the same saved model folder
    (what the CLI passes: the executors load it once per Python worker)."""
    pytest.importorskip("pyspark")
    from siteclass.models.linear import LinearClassifier

    X, y = serve_models.training_data()
    model = str(LinearClassifier(min_df=1, char_ngrams=(3, 4)).fit(X * 3, y * 3).save(tmp_path / "model"))
    serve_models.write_crawl(tmp_path / "crawl", 60, chunk=30)
    local, spark = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    settings = _settings(top_k=3)
    predict_crawl(tmp_path / "crawl", local, model, settings)
    settings.predict.engine = "spark"
    settings.spark.master = "local[2]"
    settings.spark.partitions = 2
    result = predict_crawl(tmp_path / "crawl", spark, model, settings)
    a, b = pq.read_table(local).to_pylist(), pq.read_table(spark).to_pylist()
    assert result.n_sites == 60 and len(a) == len(b) == 60
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if "probabilit" not in k} == {k: v for k, v in y.items() if "probabilit" not in k}
        assert (x["probability"] is None) == (y["probability"] is None)
        assert x["probabilities"] == pytest.approx(y["probabilities"], rel=1e-9, abs=1e-300)
