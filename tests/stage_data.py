"""Small labelled site data shared by the stage tests: dataset rows and a crawl folder of three easy classes.

``tests/test_custom_model.py`` (a model from outside siteclass) and ``tests/test_default_model.py`` (the default
model) run them through every stage; ``running`` starts an app's lifespan and speaks ASGI to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siteclass.crawling.items import PAGE_SCHEMA, SITE_SCHEMA  # the crawl output's schemas

WORDS = {
    "bakery": ["bread", "cake", "flour", "oven", "pastry", "croissant", "baker", "dough", "sourdough", "cookies"],
    "law": ["attorney", "court", "lawyer", "legal", "litigation", "counsel", "contract", "trial", "estate", "dispute"],
    "plumbing": ["pipe", "leak", "drain", "boiler", "plumber", "water", "heating", "valve", "faucet", "sewer"],
}
COMMON = ["the", "and", "our", "we", "are", "best", "local", "team", "service", "quality", "customers", "since", "years", "family", "call", "today"]


def text_of(rng: np.random.Generator, label: str, n: int = 12) -> str:
    words = [*rng.choice(WORDS[label], n // 2), *rng.choice(COMMON, n - n // 2)]
    return " ".join(rng.permutation(words))


def dataset_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Site dataset rows (docs/architecture.md, "Dataset output"): id, domain, name, url, ext, text, pages, label."""
    rng = np.random.default_rng(seed)
    labels = sorted(WORDS)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        domain = f"site{seed}x{i}.com"
        pages = [{"url": f"https://{domain}/{p}", "title": f"Page {p}", "text": text_of(rng, label)} for p in range(2)]
        rows.append({"id": f"{seed}-{i}", "domain": domain, "name": f"Company {i}", "url": f"https://{domain}/",
                     "ext": "com", "text": " ".join(p["text"] for p in pages), "pages": pages, "label": label})
    return rows


def write_dataset(folder: Path) -> Path:
    """A dataset folder (train 90, val 30, test 30 rows of three classes, labels.json), as ``dataset build`` writes."""
    import json

    for split, n, seed in (("train", 90, 1), ("val", 30, 2), ("test", 30, 3)):
        pq.write_table(pa.Table.from_pylist(dataset_rows(n, seed)), folder / f"{split}.parquet")
    (folder / "labels.json").write_text(json.dumps(sorted(WORDS)), encoding="utf-8")
    return folder


def write_crawl(folder: Path, n_sites: int, seed: int = 7) -> dict[str, str]:
    """A crawl folder (sites.parquet + pages.parquet); every 5th site failed. Returns site_id → true label."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = sorted(WORDS)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sites, pages, truth = [], [], {}
    for i in range(n_sites):
        sid, host, label = f"s{i:05d}", f"crawled{i}.com", labels[i % len(labels)]
        failed = i % 5 == 4
        sites.append({"site_id": sid, "name": f"Business {i}", "input_url": f"http://{host}/",
                      "final_url": "" if failed else f"http://{host}/", "status": "timeout" if failed else "ok",
                      "error": "timed out" if failed else "", "pages": 0 if failed else 2, "elapsed_s": 0.2})
        if failed:
            continue
        truth[sid] = label
        for order in (2, 1):  # a site's pages in any order, as a crawl writes them
            text = text_of(rng, label)
            pages.append({"site_id": sid, "input_url": f"http://{host}/", "url": f"http://{host}/p{order}",
                          "domain": host, "path": f"/p{order}", "depth": order - 1, "rank": order - 1,
                          "order": order, "click_text": "", "title": f"Page {order}", "meta_description": "",
                          "lang": "en", "text": text, "status": 200, "content_type": "text/html",
                          "bytes": len(text), "fetched_at": now})
    pq.write_table(pa.Table.from_pylist(sites, SITE_SCHEMA), folder / "sites.parquet")
    pq.write_table(pa.Table.from_pylist(pages, PAGE_SCHEMA), folder / "pages.parquet")
    return truth


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """The app with its lifespan started, an httpx client speaking ASGI to it, once the model loaded (or failed)."""
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            for _ in range(3000):  # until ready, or until the model failed to load
                ready = await client.get("/readyz")
                if ready.status_code == 200 or "could not" in ready.text:
                    break
                await asyncio.sleep(0.01)
            yield client


# ----------------------------------------------------------------------------------------------- stage checks
PAGES = {"name": "Crusty Corner", "url": "https://crustycorner.example/",
         "pages": [{"url": "https://crustycorner.example/", "title": "Home",
                    "text": "fresh bread sourdough croissant pastry from our oven every morning"}]}


async def assert_serves(client: Any, expected: list[tuple[str, float]]) -> None:
    """The server's answer for ``PAGES`` is *expected* (the model's own top-k), and a batch of two agrees."""
    r = await client.post("/v1/predict/pages", json=PAGES)
    assert r.status_code == 200, r.text
    got = [(i["label"], i["probability"]) for i in r.json()["industries"]]
    assert [g[0] for g in got] == [e[0] for e in expected] and got[0][0] == "bakery"
    assert all(abs(g[1] - e[1]) < 1e-9 for g, e in zip(got, expected))
    batch = await client.post("/v1/predict/batch", json={"items": [PAGES, PAGES]})
    assert batch.status_code == 200 and [i["label"] for i in batch.json()["items"]] == ["bakery"] * 2


def local_then_spark(settings: Any) -> Any:
    """*settings* for the local engine (no progress, top 2); returns a function that switches them to Spark."""
    settings.predict.progress = False
    settings.predict.top_k = 2

    def to_spark() -> None:
        settings.predict.engine = "spark"
        settings.spark.master = "local[2]"
        settings.spark.partitions = 2

    return to_spark


def assert_same_predictions(local: Path, spark: Path, n_sites: int) -> list[dict[str, Any]]:
    """The Spark engine's rows equal the local engine's (probabilities to 1e-9); returns the Spark rows."""
    a, b = pq.read_table(local).to_pylist(), pq.read_table(spark).to_pylist()
    assert len(a) == len(b) == n_sites
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if "probabilit" not in k} == {k: v for k, v in y.items() if "probabilit" not in k}
        assert x["probabilities"] == pytest.approx(y["probabilities"], rel=1e-9, abs=1e-300)
    return b


def accuracy(model: Any, rows: list[dict[str, Any]]) -> float:
    """The share of dataset *rows* whose label *model* predicts."""
    records = [{k: v for k, v in r.items() if k != "label"} for r in rows]
    return float(np.mean([p == r["label"] for p, r in zip(model.predict(records), rows)]))


def assert_evaluates(trained: Path, ds: Path, out: Path) -> dict[str, Any]:
    """``siteclass evaluate`` on the test split: its accuracy is the model's own, with a report; returns metrics."""
    import json

    from siteclass.cli import run
    from siteclass.models.base import load_model

    assert run(["evaluate", "--model", str(trained), "--data", str(ds), "--out", str(out)]) == 0
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    test_rows = pq.read_table(ds / "test.parquet").to_pylist()
    assert metrics["n"] == len(test_rows)
    assert metrics["accuracy"] == pytest.approx(accuracy(load_model(trained), test_rows))
    assert (out / "report.html").is_file()
    return metrics


def assert_predicts_crawl(trained: Path, crawl: tuple[Path, dict[str, str]], out: Path) -> None:
    """``siteclass predict --crawl`` with *trained*: one row per site in the crawl's order, top 2, ≥ 90 % right,
    no label for a failed site."""
    from siteclass.cli import run

    folder, truth = crawl
    assert run(["predict", "--crawl", str(folder), "--out", str(out), "--model", str(trained), "--top-k", "2",
                "--no-progress"]) == 0
    rows = pq.read_table(out).to_pylist()
    assert [r["site_id"] for r in rows] == pq.read_table(folder / "sites.parquet").column("site_id").to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == len(truth) and all(len(r["labels"]) == 2 and r["labels"][0] == r["label"] for r in ok)
    assert np.mean([r["label"] == truth[r["site_id"]] for r in ok]) >= 0.9
    assert all(r["label"] is None for r in rows if r["status"] != "ok")
