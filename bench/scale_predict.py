"""Batch prediction throughput: Spark ``local[2]`` vs the local streaming engine on the same crawl and model.

    python -m bench scale_predict [--sites 100000] [--pages 2] [--train 3000] [--master local[2]]

A crawl folder of N generated sites (default 100,000; every 20th site failed with no pages, like a real crawl;
``--pages`` pages a site of ~300–600 characters drawn from a few industry vocabularies) is written with pyarrow in
the crawl's exact schemas (``sites.parquet`` + ``pages.parquet`` in row groups, each site's pages together) into a
temporary folder. A small real ``fasttext`` model is trained on a few thousand generated labeled records of the
same vocabularies and saved to a folder. Then ``siteclass.prediction.predict_crawl`` runs end to end on that crawl
twice with the saved model folder: the local engine (the anchor: one process streaming Arrow batches), and
``[predict] engine = "spark"`` with ``[spark] master = "local[2]"``. The Spark session's start-up is timed on its
own (``spark_session`` is called first; ``predict_crawl`` then reuses it) and reported beside the end-to-end
figure. Both outputs must have the same rows in the same order and the same labels; the agreement is reported.

Figures: rows/s = sites.parquet rows / wall seconds; ratio = Spark rows/s ÷ local rows/s (start-up included and
not). Spark runs ``--spark-runs`` times in a row (default 2, each with a fresh session in the same JVM): the first
pays the JVM's warm-up (JIT), the last one is the reported figure. Nothing else should run on the machine:
``local[2]`` wants two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parent / "out"
FAILED_EVERY = 20
ROW_GROUP = 20_000

VOCAB: dict[str, list[str]] = {
    "plumbing": ["plumber", "pipe", "drain", "leak", "boiler", "faucet", "sewer", "water", "heater", "valve",
                 "toilet", "repair", "emergency", "install", "bathroom", "kitchen", "gas", "fitting"],
    "bakery": ["bread", "cake", "pastry", "flour", "oven", "croissant", "sourdough", "dough", "bake", "cookie",
               "wedding", "cupcake", "fresh", "butter", "muffin", "bagel", "tart", "rye"],
    "law": ["attorney", "lawyer", "court", "litigation", "legal", "counsel", "contract", "estate", "injury",
            "divorce", "trial", "client", "firm", "claim", "settlement", "criminal", "defense", "will"],
    "dental": ["dentist", "teeth", "tooth", "implant", "orthodontic", "cleaning", "whitening", "braces", "gum",
               "crown", "cavity", "patient", "smile", "oral", "hygienist", "filling", "root", "canal"],
    "software": ["software", "cloud", "platform", "api", "developer", "saas", "data", "integration", "security",
                 "analytics", "deploy", "application", "code", "startup", "automation", "dashboard", "app", "ai"],
    "trucking": ["freight", "truck", "logistics", "shipping", "load", "carrier", "haul", "dispatch", "trailer",
                 "delivery", "warehouse", "route", "driver", "cargo", "transport", "fleet", "pallet", "ltl"],
}
COMMON = ["we", "our", "the", "and", "for", "with", "to", "of", "in", "your", "team", "service", "services",
          "customers", "quality", "contact", "us", "about", "years", "experience", "local", "family", "owned"]


def _texts(rng: Any, label: str, n: int) -> list[str]:
    """*n* texts of 300–600 characters: ~60% the industry's words, the rest common words."""
    words = VOCAB[label]
    out = []
    for _ in range(n):
        size = int(rng.integers(300, 601))
        picks = rng.random(120) < 0.6
        a, b = rng.integers(0, len(words), 120), rng.integers(0, len(COMMON), 120)
        text = " ".join(words[int(x)] if p else COMMON[int(y)] for p, x, y in zip(picks, a, b))
        out.append(text[:size].rsplit(" ", 1)[0].capitalize() + ".")
    return out


def write_crawl(folder: Path, n_sites: int, pages: int, seed: int = 11) -> dict[str, str]:
    """A crawl folder of *n_sites* (sites.parquet, pages.parquet), vectorised; returns site_id → true label."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from siteclass.crawling.items import PAGE_SCHEMA, SITE_SCHEMA

    rng = np.random.default_rng(seed)
    labels = sorted(VOCAB)
    pool_per_label = 500
    pool = pa.array([t for lab in labels for t in _texts(rng, lab, pool_per_label)], pa.string())
    folder.mkdir(parents=True, exist_ok=True)

    idx = np.arange(n_sites)
    site_ids = np.array([f"s{i:07d}" for i in idx], dtype=object)
    label_of = rng.integers(0, len(labels), n_sites)
    hosts = np.array([f"{labels[k]}-{i}.example" for i, k in zip(idx, label_of)], dtype=object)
    failed = idx % FAILED_EVERY == FAILED_EVERY - 1
    input_urls = np.array([f"http://{h}/" for h in hosts], dtype=object)
    sites = pa.table({
        "site_id": pa.array(site_ids, pa.string()),
        "name": pa.array([f"Business {i}" for i in idx], pa.string()),
        "input_url": pa.array(input_urls, pa.string()),
        "final_url": pa.array(np.where(failed, "", input_urls), pa.string()),
        "status": pa.array(np.where(failed, "unreachable", "ok"), pa.string()),
        "error": pa.array(np.where(failed, "connection refused", ""), pa.string()),
        "pages": pa.array(np.where(failed, 0, pages), pa.int32()),
        "elapsed_s": pa.array(rng.random(n_sites) * 5, pa.float64()),
    }, schema=SITE_SCHEMA)
    pq.write_table(sites, folder / "sites.parquet")

    now = pa.scalar(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), PAGE_SCHEMA.field("fetched_at").type)
    ok = idx[~failed]
    with pq.ParquetWriter(folder / "pages.parquet", PAGE_SCHEMA) as writer:
        step = max(1, ROW_GROUP // pages)
        for start in range(0, len(ok), step):
            chunk = rng.permutation(ok[start : start + step])  # sites finish in any order within a chunk
            sid = np.repeat(chunk, pages)  # each site's pages together
            order = np.tile(np.arange(1, pages + 1, dtype=np.int16), len(chunk))
            text = pool.take(pa.array(label_of[sid] * pool_per_label + rng.integers(0, pool_per_label, len(sid))))
            path = np.array([f"/p{o}" for o in order], dtype=object)
            url = np.char.add(input_urls[sid].astype(str), np.char.lstrip(path.astype(str), "/"))
            n = len(sid)
            writer.write_table(pa.table({
                "site_id": pa.array(site_ids[sid], pa.string()),
                "input_url": pa.array(input_urls[sid], pa.string()),
                "url": pa.array(url, pa.string()),
                "domain": pa.array(hosts[sid], pa.string()),
                "path": pa.array(path, pa.string()),
                "depth": pa.array(np.minimum(order - 1, 1), pa.int16()),
                "rank": pa.array(order - 1, pa.int16()),
                "order": pa.array(order, pa.int16()),
                "click_text": pa.array(np.full(n, "", dtype=object), pa.string()),
                "title": pa.array(np.char.add("Page ", order.astype(str)), pa.string()),
                "meta_description": pa.array(np.full(n, "", dtype=object), pa.string()),
                "lang": pa.array(np.full(n, "en", dtype=object), pa.string()),
                "text": text,
                "status": pa.array(np.full(n, 200, np.int16), pa.int16()),
                "content_type": pa.array(np.full(n, "text/html", dtype=object), pa.string()),
                "bytes": pc.utf8_length(text).cast(pa.int64()),
                "fetched_at": pa.repeat(now, n),
            }, schema=PAGE_SCHEMA))
    return {str(site_ids[i]): labels[int(label_of[i])] for i in ok}


def train_model(folder: Path, n: int, pages: int, epochs: int, seed: int = 5) -> dict[str, Any]:
    """A real fasttext model trained on *n* generated records (other texts than the crawl's), saved to *folder*."""
    import numpy as np

    from siteclass.models.fasttext import FastTextClassifier

    rng = np.random.default_rng(seed)
    labels = sorted(VOCAB)
    records, y = [], []
    for i in range(n):
        lab = labels[i % len(labels)]
        host = f"{lab}-train{i}.example"
        texts = _texts(rng, lab, pages)
        records.append({"name": f"Company {i}", "domain": host, "url": f"http://{host}/", "ext": "example",
                        "pages": [{"url": f"http://{host}/p{k}", "title": f"Page {k}", "text": t}
                                  for k, t in enumerate(texts, 1)]})
        y.append(lab)
    started = time.perf_counter()
    model = FastTextClassifier(dim=32, epochs=epochs, buckets=200_000, seed=seed, device="cpu")
    model.fit(records, y, progress=False)
    model.save(folder)
    return {"records": n, "epochs": epochs, "seconds": time.perf_counter() - started}


def run_local(crawl: Path, out: Path, model_dir: Path) -> dict[str, Any]:
    from siteclass.config import Settings
    from siteclass.prediction import predict_crawl

    settings = Settings()
    settings.predict.progress = False
    started = time.perf_counter()
    result = predict_crawl(crawl, out, model_dir, settings)
    seconds = time.perf_counter() - started
    return {"engine": "local", "rows": result.n_sites, "predicted": result.n_predicted, "seconds": seconds,
            "rows_per_s": result.n_sites / seconds}


def run_spark(crawl: Path, out: Path, model_dir: Path, master: str, partitions: int | None) -> dict[str, Any]:
    from siteclass.config import Settings
    from siteclass.data.spark import spark_session
    from siteclass.prediction import predict_crawl

    settings = Settings()
    settings.predict.progress = False
    settings.predict.engine = "spark"
    settings.spark.master = master
    if partitions is not None:
        settings.spark.partitions = partitions
    started = time.perf_counter()
    session = spark_session(settings.spark)  # predict_crawl_spark's getOrCreate() reuses it
    startup = time.perf_counter() - started
    try:
        result = predict_crawl(crawl, out, model_dir, settings)
        total = time.perf_counter() - started
    finally:
        session.stop()
    return {"engine": "spark", "master": master, "partitions": settings.spark.partitions or "spark default",
            "rows": result.n_sites, "predicted": result.n_predicted, "startup_s": startup, "seconds": total,
            "predict_s": total - startup, "rows_per_s": result.n_sites / total,
            "rows_per_s_after_startup": result.n_sites / (total - startup)}


def compare(local: Path, spark: Path, truth: dict[str, str]) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    a, b = pq.read_table(local), pq.read_table(spark)
    same_rows = a.num_rows == b.num_rows and a.column("site_id").equals(b.column("site_id")) \
        and a.column("status").equals(b.column("status")) and a.column("url").equals(b.column("url"))
    la, lb = a.column("label").to_pylist(), b.column("label").to_pylist()
    n = min(len(la), len(lb))
    agree = sum(x == y for x, y in zip(la[:n], lb[:n]))
    pa_, pb = a.column("probability").to_pylist()[:n], b.column("probability").to_pylist()[:n]
    diffs = [abs(x - y) for x, y in zip(pa_, pb) if x is not None and y is not None]
    sids = a.column("site_id").to_pylist()
    correct = sum(truth.get(s) == lab for s, lab in zip(sids, la) if s in truth)
    return {"same_rows": bool(same_rows), "rows_local": a.num_rows, "rows_spark": b.num_rows,
            "label_agreement": agree / max(1, n), "labels_differing": n - agree,
            "max_probability_diff": float(np.max(diffs)) if diffs else 0.0,
            "local_accuracy_vs_truth": correct / max(1, len(truth))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale_predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=100_000, help="sites in the generated crawl")
    parser.add_argument("--pages", type=int, default=2, help="pages per site")
    parser.add_argument("--train", type=int, default=3000, help="labeled records to train the fasttext model on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--master", default="local[2]", help="Spark master URL")
    parser.add_argument("--spark-runs", type=int, default=2,
                        help="Spark runs in a row (the first pays the JVM's warm-up; the last is reported)")
    parser.add_argument("--partitions", type=int, default=None,
                        help="spark.sql.shuffle.partitions (default: the [spark] partitions setting)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="siteclass-bench-predict-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        truth = write_crawl(work / "crawl", args.sites, args.pages)
        gen_s = time.perf_counter() - started
        size_mb = sum(f.stat().st_size for f in (work / "crawl").iterdir()) / 1e6
        print(f"crawl:            {args.sites} sites, {len(truth) * args.pages} pages, {size_mb:.0f} MB "
              f"written in {gen_s:.1f} s", flush=True)
        trained = train_model(work / "model", args.train, args.pages, args.epochs)
        print(f"model:            fasttext on {trained['records']} records, {trained['epochs']} epochs, "
              f"{trained['seconds']:.1f} s", flush=True)
        local = run_local(work / "crawl", work / "local.parquet", work / "model")
        print(f"local engine:     {local['rows_per_s']:8.0f} rows/s ({local['rows']} rows, {local['predicted']} "
              f"predicted, {local['seconds']:.1f} s end to end)", flush=True)
        runs = []
        for run in range(max(1, args.spark_runs)):
            spark = run_spark(work / "crawl", work / "spark.parquet", work / "model", args.master, args.partitions)
            runs.append(spark)
            if run < args.spark_runs - 1:
                print(f"spark run {run + 1}:      {spark['rows_per_s']:8.0f} rows/s ({spark['seconds']:.1f} s end to end, "
                      f"{spark['rows_per_s_after_startup']:.0f} rows/s after start-up; JVM warm-up)", flush=True)
        print(f"spark {args.master}: {spark['rows_per_s']:8.0f} rows/s ({spark['rows']} rows, {spark['seconds']:.1f} s "
              f"end to end = {spark['startup_s']:.1f} s session start-up + {spark['predict_s']:.1f} s; "
              f"{spark['rows_per_s_after_startup']:.0f} rows/s after start-up)", flush=True)
        agreement = compare(work / "local.parquet", work / "spark.parquet", truth)
    ratio = spark["rows_per_s"] / local["rows_per_s"]
    ratio_warm = spark["rows_per_s_after_startup"] / local["rows_per_s"]
    print(f"ratio spark/local: {ratio:.2f} end to end, {ratio_warm:.2f} without session start-up")
    print(f"agreement:        same rows: {agreement['same_rows']}, labels {100 * agreement['label_agreement']:.3f}% "
          f"equal ({agreement['labels_differing']} differ), max |Δprobability| "
          f"{agreement['max_probability_diff']:.2e}; local accuracy vs generated truth "
          f"{100 * agreement['local_accuracy_vs_truth']:.1f}%")
    result: dict[str, Any] = {
        "sites": args.sites, "pages_per_site": args.pages, "crawl_mb": size_mb, "generate_s": gen_s,
        "model": trained, "local": local, "spark": spark, "spark_runs": runs, "ratio": ratio,
        "ratio_without_startup": ratio_warm,
        "agreement": agreement, "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"machine:          {os.cpu_count()} CPUs, load average {result['load_average_1_5_15']} at the end "
          "(other processes compete with both engines)")
    OUT.mkdir(exist_ok=True)
    (OUT / "scale_predict.json").write_text(json.dumps(result, indent=2))
    return 0 if agreement["same_rows"] and agreement["label_agreement"] == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
