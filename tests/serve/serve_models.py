"""Small real classifiers for the serve/predict tests (multinomial naive Bayes over words), plus fixture data.

They follow the Classifier contract for real (fit, logits, save/load) so the tests do not depend on the
heavier model families; ``delay_s`` makes a deliberately slow model for deadline and concurrency tests.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.models.base import Classifier
from siteclass.models.registry import MODEL_CLASSES
from siteclass.records import Record, record_text

_WORD = re.compile(r"[a-z]+")

TRAIN: dict[str, list[str]] = {
    "plumbing": ["we fix pipes drains and leaks", "emergency plumber for boilers pipes and water heaters",
                 "drain cleaning pipe repair plumbing"],
    "bakery": ["fresh bread cakes and pastries baked daily", "our bakery bakes sourdough bread and croissants",
               "birthday cakes cookies pastries"],
    "law": ["attorneys at law practice areas litigation", "our lawyers handle contracts disputes and estates",
            "legal advice law firm attorneys"],
}


def training_data() -> tuple[list[Record], list[str]]:
    X: list[Record] = []
    y: list[str] = []
    for label, texts in TRAIN.items():
        for t in texts:
            X.append({"name": "", "pages": [{"url": "", "title": "", "text": t}]})
            y.append(label)
    return X, y


class KeywordClassifier(Classifier):
    model_type = "keyword_nb"

    def __init__(self, alpha: float = 0.5, delay_s: float = 0.0) -> None:
        self.alpha = alpha
        self.delay_s = delay_s

    def _words(self, record: Record) -> list[str]:
        return _WORD.findall(record_text(record).lower())

    def _fit(self, records: list[Record], Y: np.ndarray, *, val: Any, sample_weight: Any, **options: Any) -> None:
        vocab = sorted({w for r in records for w in self._words(r)})
        self.vocab_ = {w: i for i, w in enumerate(vocab)}
        counts = np.full((len(self.classes_), len(vocab)), self.alpha)
        for r, c in zip(records, Y):
            for w in self._words(r):
                counts[int(c), self.vocab_[w]] += 1
        self.log_prob_ = np.log(counts / counts.sum(axis=1, keepdims=True))

    def _logits(self, records: list[Record]) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        X = np.zeros((len(records), len(self.vocab_)))
        for i, r in enumerate(records):
            for w in self._words(r):
                j = self.vocab_.get(w)
                if j is not None:
                    X[i, j] += 1
        return X @ self.log_prob_.T  # type: ignore[no-any-return]

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"log_prob": self.log_prob_}, {"vocab": sorted(self.vocab_, key=self.vocab_.__getitem__)}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.log_prob_ = arrays["log_prob"]
        self.vocab_ = {w: i for i, w in enumerate(extra["vocab"])}


def register() -> None:
    """Make ``load_model`` know this model type (for processes that load it from a folder)."""
    MODEL_CLASSES.setdefault(KeywordClassifier.model_type, "serve_models:KeywordClassifier")


def trained(delay_s: float = 0.0) -> KeywordClassifier:
    X, y = training_data()
    model = KeywordClassifier(delay_s=delay_s).fit(X, y)
    assert isinstance(model, KeywordClassifier)
    return model


WORDS = {label: " ".join(texts).split() for label, texts in TRAIN.items()}


def write_crawl(folder: Path, n_sites: int, pages_per_site: int = 3, text_chars: int = 400, failed_every: int = 10,
                chunk: int = 2000, interleave: bool = False) -> dict[str, str]:
    """A crawl folder in the crawl's exact schemas (sites.parquet, pages.parquet) with generated text.

    Every ``failed_every``-th site failed (status unreachable, no pages). Like a real crawl, sites finish in any
    order (shuffled within chunks) and each site's pages are written together, in reverse page order;
    ``interleave=True`` scatters the pages of a site across the chunk. Returns site_id → true label.
    """
    import datetime as dt
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    from siteclass.crawling.items import PAGE_SCHEMA, SITE_SCHEMA

    rng = random.Random(n_sites)
    folder.mkdir(parents=True, exist_ok=True)
    labels = sorted(WORDS)
    truth: dict[str, str] = {}
    site_rows = []
    size = max(20_000, 4 * text_chars)
    corpus = {lab: " ".join(rng.choice(w) for w in [WORDS[lab]] * (size // 5))[:size] for lab in labels}
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pq.ParquetWriter(folder / "pages.parquet", PAGE_SCHEMA) as writer:
        for start in range(0, n_sites, chunk):
            groups: list[list[dict[str, Any]]] = []
            for i in range(start, min(n_sites, start + chunk)):
                sid = f"s{i:07d}"
                label = labels[i % len(labels)]
                host = f"site{i}.com"
                failed = failed_every and i % failed_every == failed_every - 1
                site_rows.append({"site_id": sid, "name": f"Business {i}", "input_url": f"http://{host}/",
                                  "final_url": "" if failed else f"http://{host}/",
                                  "status": "unreachable" if failed else "ok",
                                  "error": "connection refused" if failed else "",
                                  "pages": 0 if failed else pages_per_site, "elapsed_s": 0.1})
                if failed:
                    continue
                truth[sid] = label
                groups.append([])
                for order in range(pages_per_site, 0, -1):
                    offset = rng.randrange(len(corpus[label]) - text_chars)
                    text = corpus[label][offset : offset + text_chars]
                    groups[-1].append({
                        "site_id": sid, "input_url": f"http://{host}/", "url": f"http://{host}/p{order}",
                        "domain": host, "path": f"/p{order}", "depth": 0 if order == 1 else 1, "rank": order - 1,
                        "order": order, "click_text": "", "title": f"Page {order}", "meta_description": "",
                        "lang": "en", "text": text, "status": 200, "content_type": "text/html", "bytes": len(text),
                        "fetched_at": now,
                    })
            rng.shuffle(groups)
            page_rows = [row for g in groups for row in g]
            if interleave:
                rng.shuffle(page_rows)
            writer.write_table(pa.Table.from_pylist(page_rows, PAGE_SCHEMA))
    pq.write_table(pa.Table.from_pylist(site_rows, SITE_SCHEMA), folder / "sites.parquet")
    return truth


class PageLengthClassifier(Classifier):
    """Logistic regression on the log length of the first pages — cheap enough for 20K-site memory runs."""

    model_type = "page_length"

    def __init__(self, pages: int = 3) -> None:
        self.pages = pages

    def _features(self, records: list[Record]) -> np.ndarray:
        X = np.zeros((len(records), self.pages + 1))
        for i, r in enumerate(records):
            for j, p in enumerate((r.get("pages") or [])[: self.pages]):
                X[i, j] = np.log1p(len(p.get("text") or ""))
            X[i, -1] = 1.0
        return X

    def _fit(self, records: list[Record], Y: np.ndarray, *, val: Any, sample_weight: Any, **options: Any) -> None:
        X = self._features(records)
        W = np.zeros((X.shape[1], len(self.classes_)))
        onehot = np.eye(len(self.classes_))[Y]
        for _ in range(200):
            z = X @ W
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            W -= 0.1 * X.T @ (p - onehot) / len(X)
        self.W_ = W

    def _logits(self, records: list[Record]) -> np.ndarray:
        return self._features(records) @ self.W_  # type: ignore[no-any-return]

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"W": self.W_}, {}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.W_ = arrays["W"]


def trained_length() -> PageLengthClassifier:
    X = [{"pages": [{"text": "x" * n}] * 3} for n in (10, 20, 30, 1000, 2000, 3000)]
    model = PageLengthClassifier().fit(X, ["short"] * 3 + ["long"] * 3)
    assert isinstance(model, PageLengthClassifier)
    return model
