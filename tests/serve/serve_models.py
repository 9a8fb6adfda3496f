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

from siteclass.models.base import MODEL_CLASSES, Classifier, Record, record_text

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
