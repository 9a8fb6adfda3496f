"""Helpers of the labels tests: generated judgements with a known truth, brute-force references written from
the definitions (plain Python, no DuckDB), predictions and crawl folders in the documented schemas."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from siteclass.crawling.items import PAGE_SCHEMA as PAGES_SCHEMA  # the crawl output's schemas
from siteclass.crawling.items import SITE_SCHEMA as SITES_SCHEMA
from siteclass.prediction import PREDICTION_SCHEMA


@dataclass
class Generated:
    rows: list[dict[str, Any]]  # item, labeller, label, seconds, group
    truth: dict[str, str]
    accuracy: dict[str, float]  # planted accuracy per labeller


def generate(items: int = 300, labellers: int = 6, labels: int = 5, per_item: tuple[int, ...] = (3, 4),
             seed: int = 0, accuracy: list[float] | None = None, groups: int = 3) -> Generated:
    """Judgements of *labellers* (distinct per item) on *items*, each right with its planted accuracy."""
    rng = np.random.default_rng(seed)
    acc = accuracy or list(np.linspace(0.95, 0.55, labellers))
    names = [f"L{i}" for i in range(labels)]
    rows: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for i in range(items):
        item = f"site{i:04d}"
        t = int(rng.integers(labels))
        truth[item] = names[t]
        n = int(rng.choice(per_item))
        for who in rng.choice(labellers, size=min(n, labellers), replace=False):
            right = rng.random() < acc[who]
            lab = t if right else int((t + rng.integers(1, labels)) % labels)
            rows.append({"item": item, "labeller": f"ann{who}", "label": names[lab],
                         "seconds": round(float(rng.gamma(3.0, 5.0 + 10 * acc[who])), 1),
                         "group": f"vendor{who % groups}"})
    return Generated(rows, truth, {f"ann{i}": float(a) for i, a in enumerate(acc)})


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------------------- brute force
def votes_by_item(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        out[r["item"]][r["label"]] += 1
    return out


def loo_agreement(rows: list[dict[str, Any]]) -> dict[str, tuple[float | None, int]]:
    """Per labeller: mean over their judgements on items judged ≥ 2 times of [own label is a plurality label of
    the other judgements] / (number of plurality labels of the others); and how many judgements count."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_item[r["item"]].append(r)
    scores: dict[str, list[float]] = defaultdict(list)
    for judgements in by_item.values():
        if len(judgements) < 2:
            continue
        for own in judgements:
            others = Counter(o["label"] for o in judgements if o is not own)
            best = max(others.values())
            top = [lab for lab, v in others.items() if v == best]
            scores[own["labeller"]].append(1.0 / len(top) if own["label"] in top else 0.0)
    labellers = {r["labeller"] for r in rows}
    return {who: ((sum(scores[who]) / len(scores[who])) if scores[who] else None, len(scores[who]))
            for who in labellers}


def statuses(rows: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for item, votes in votes_by_item(rows).items():
        n = sum(votes.values())
        best = max(votes.values())
        top = [lab for lab, v in votes.items() if v == best]
        out[item] = ("single" if n == 1 else "agreed" if len(votes) == 1 else "majority" if len(top) == 1
                     else "tie")
    return out


# ----------------------------------------------------------------------------------------- predictions, crawl
def prediction_rows(n: int, labels: int = 4, seed: int = 0, not_ok: int = 0) -> list[dict[str, Any]]:
    """Rows in the predictions schema with random top-3 probabilities (sorted), the last *not_ok* failed."""
    rng = np.random.default_rng(seed)
    names = [f"C{i}" for i in range(labels)]
    rows = []
    for i in range(n):
        sid = f"s{i:04d}"
        if i >= n - not_ok:
            rows.append({"site_id": sid, "name": f"Site {i}", "url": f"https://www.site{i}.com/",
                         "status": "dns_error", "label": None, "probability": None, "labels": [], "probabilities": [],
                         "warning": None, "naics_code": None, "naics_title": None})
            continue
        p = rng.dirichlet(np.ones(labels) * 0.7)
        order = np.argsort(-p)[:3]
        rows.append({"site_id": sid, "name": f"Site {i}", "url": f"https://www.site{i}.com/", "status": "ok",
                     "label": names[order[0]], "probability": float(p[order[0]]), "labels": [names[j] for j in order],
                     "probabilities": [float(p[j]) for j in order], "warning": None, "naics_code": None,
                     "naics_title": None})
    return rows


def write_predictions(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA), path)
    return path




def write_crawl(folder: Path, sites: list[dict[str, Any]]) -> Path:
    """sites: dicts with id, name, url, pages [(path, title, text)] → sites.parquet + pages.parquet (pages
    written in reverse crawl order, so readers must order them)."""
    folder.mkdir(parents=True, exist_ok=True)
    site_rows, page_rows = [], []
    for s in sites:
        host = s["url"].split("://", 1)[1].strip("/")
        pages = s.get("pages", [])
        site_rows.append({"site_id": s["id"], "name": s.get("name", ""), "input_url": s["url"],
                          "final_url": s["url"] if pages else "", "status": "ok" if pages else "dns_error",
                          "error": "", "pages": len(pages), "elapsed_s": 0.1})
        for order, (path, title, text) in enumerate(pages, start=1):
            page_rows.append({"site_id": s["id"], "input_url": s["url"], "url": f"https://{host}{path}",
                              "domain": host.removeprefix("www."), "path": path, "depth": int(order > 1),
                              "rank": order - 1, "order": order, "click_text": "", "title": title,
                              "meta_description": "", "lang": "en", "text": text, "status": 200,
                              "content_type": "text/html", "bytes": len(text), "fetched_at": None})
    pq.write_table(pa.Table.from_pylist(site_rows, schema=SITES_SCHEMA), folder / "sites.parquet")
    pq.write_table(pa.Table.from_pylist(page_rows[::-1], schema=PAGES_SCHEMA), folder / "pages.parquet")
    return folder
