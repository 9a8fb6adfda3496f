"""Overrides that stick (#20): batch predict, Spark predict and the running server apply an overrides file, mark
the answer's source, and the server re-reads the file when it changes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import serve_models
from serve_helpers import running

from siteclass.config import ServeSettings, Settings
from siteclass.prediction import predict_crawl
from siteclass.serve.app import create_app

PAGES = {"name": "Acme", "url": "https://www.acme-plumbing.com/about",
         "pages": [{"url": "https://www.acme-plumbing.com/", "title": "Acme", "text": "we fix pipes and drains"}]}


def _write(path: Path, text: str, bump: float = 0.0) -> Path:
    path.write_text(text, encoding="utf-8")
    if bump:  # a distinct mtime even on coarse-clock file systems
        t = time.time() + bump
        os.utime(path, (t, t))
    return path


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("crawl") / "crawl"
    return folder, serve_models.write_crawl(folder, 40)



def test_batch_predict_applies_overrides_and_marks_the_source(crawl, tmp_path: Path) -> None:
    folder, truth = crawl
    model = serve_models.trained()
    path = tmp_path / "overrides.csv"
    path.write_text("domain,label,note\nwww.site3.com/about,law,checked by hand\nsite9.com,winery,\n")
    settings = Settings()
    settings.predict.overrides = str(path)
    with pytest.warns(UserWarning, match="winery"):
        predict_crawl(folder, tmp_path / "p.parquet", model, settings)
    rows = {r["site_id"]: r for r in pq.read_table(tmp_path / "p.parquet").to_pylist()}
    assert rows["s0000003"]["label"] == "law" and rows["s0000003"]["probability"] == 1.0
    assert rows["s0000003"]["source"] == "override" and rows["s0000003"]["note"] == "checked by hand"
    assert rows["s0000003"]["labels"] == ["law"] and rows["s0000003"]["probabilities"] == [1.0]
    failed = rows["s0000009"]  # the crawl failed, the override still answers; the status stays
    assert failed["status"] == "unreachable" and failed["label"] == "winery" and failed["source"] == "override"
    others = [r for sid, r in rows.items() if sid not in ("s0000003", "s0000009")]
    assert all(r["source"] == ("model" if r["label"] else None) for r in others)
    assert sum(r["label"] == truth.get(r["site_id"]) for r in others) >= 0.9 * len([r for r in others if r["label"]])


def test_site_id_overrides_and_an_empty_label_is_refused(crawl, tmp_path: Path) -> None:
    from siteclass.errors import InputError

    folder, _ = crawl
    model = serve_models.trained()
    settings = Settings()
    settings.predict.overrides = str(_write(tmp_path / "o.csv", "site_id,label\ns0000005,bakery\n"))
    predict_crawl(folder, tmp_path / "p.parquet", model, settings)
    rows = {r["site_id"]: r for r in pq.read_table(tmp_path / "p.parquet").to_pylist()}
    assert rows["s0000005"]["source"] == "override" and rows["s0000005"]["label"] == "bakery"
    settings.predict.overrides = str(_write(tmp_path / "bad.csv", "site_id,label\ns0000005,\n"))
    with pytest.raises(InputError, match=r"bad\.csv.*label"):
        predict_crawl(folder, tmp_path / "q.parquet", model, settings)
    assert not (tmp_path / "q.parquet").exists()


@pytest.mark.slow
def test_spark_predict_applies_the_same_overrides(crawl, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    folder, _ = crawl
    from siteclass.models.linear import LinearClassifier

    X, y = serve_models.training_data()  # a siteclass model: the executors import its module from the install
    model = str(LinearClassifier(min_df=1, char_ngrams=(3, 4)).fit(X * 3, y * 3).save(tmp_path / "model"))
    path = _write(tmp_path / "o.csv", "domain,label,note\nsite3.com,law,by hand\nsite9.com,bakery,\n")
    settings = Settings()
    settings.predict.overrides = str(path)
    local = tmp_path / "local.parquet"
    predict_crawl(folder, local, model, settings)
    settings.predict.engine = "spark"
    settings.spark.master = "local[2]"
    settings.spark.partitions = 2
    spark = tmp_path / "spark.parquet"
    predict_crawl(folder, spark, model, settings)
    a, b = pq.read_table(local).to_pylist(), pq.read_table(spark).to_pylist()
    assert [r["source"] for r in a] == [r["source"] for r in b]
    assert [r["label"] for r in a] == [r["label"] for r in b]
    by_id = {r["site_id"]: r for r in b}
    assert by_id["s0000003"]["source"] == "override" and by_id["s0000003"]["note"] == "by hand"


def test_the_server_answers_overrides_and_rereads_the_file_while_running(keyword_model, tmp_path: Path) -> None:
    path = _write(tmp_path / "overrides.csv", "domain,label,note\nacme-plumbing.com,law,by hand\n")

    async def go() -> None:
        settings = Settings()
        settings.serve = ServeSettings(overrides=str(path))
        async with running(create_app(keyword_model, settings)) as c:
            body = (await c.post("/v1/predict/pages", json=PAGES)).json()
            assert (body["label"], body["probability"], body["source"], body["note"]) == ("law", 1.0, "override",
                                                                                         "by hand")
            other = {"url": "bread.com", "pages": [{"text": "cakes and bread"}]}
            items = (await c.post("/v1/predict/batch", json={"items": [PAGES, other]})).json()["items"]
            assert [(i["label"], i["source"]) for i in items] == [("law", "override"), ("bakery", "model")]
            info = (await c.get("/v1/model")).json()["overrides"]
            assert info["count"] == 1 and len(info["sha256"]) == 64
            # edit the file while the server runs: the next request sees it, no restart
            _write(path, "domain,label,note\nbread.com,law,moved\n", bump=5)
            body = (await c.post("/v1/predict/pages", json=PAGES)).json()
            assert (body["label"], body["source"]) == ("plumbing", "model")
            items = (await c.post("/v1/predict/batch", json={"items": [other]})).json()["items"]
            assert (items[0]["label"], items[0]["source"], items[0]["note"]) == ("law", "override", "moved")
            info2 = (await c.get("/v1/model")).json()["overrides"]
            assert info2["sha256"] != info["sha256"] and info2["count"] == 1

    asyncio.run(go())


def test_serve_refuses_a_bad_overrides_file_before_starting(keyword_model, tmp_path: Path) -> None:
    from siteclass.errors import InputError

    settings = Settings()
    settings.serve = ServeSettings(overrides=str(_write(tmp_path / "o.csv", "domain,label\n")))
    with pytest.raises(InputError, match=r"o\.csv"):
        create_app(keyword_model, settings)
