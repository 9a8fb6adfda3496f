"""``TinyClassifier``: a model from *outside* siteclass, used by ``siteclass train --model custom_model.tiny:TinyClassifier``.

Nearest centroid over hashed word counts, numpy only. It shows everything a model from another package needs:
a :class:`~siteclass.Classifier` subclass with the four hooks (``_fit``, ``_logits``, ``_state``, ``_load_state``),
its hyperparameters as ``__init__`` arguments (no ``from_settings``: ``siteclass train`` builds it from
``[train] params``), a ``search_space`` for ``siteclass tune``, and capability tags. The saved ``config.json``
names this class as ``custom_model.tiny:TinyClassifier``: every process that loads the model (a server's model
process, Spark's Python workers, tune's worker processes) must be able to import that module, e.g. with the folder
holding ``custom_model/`` on ``PYTHONPATH`` (or the package installed).
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from siteclass.models.base import Classifier
from siteclass.records import Record, record_text

_WORD = re.compile(r"\w+", re.UNICODE)


class TinyClassifier(Classifier):
    """Cosine similarity of a record's hashed word counts to each class's centroid, times ``scale``."""

    model_type = "tiny_centroid"
    gil_bound = True  # tokenising and hashing in Python
    search_space: ClassVar[dict[str, dict[str, Any]]] = {
        "dim": {"type": "categorical", "choices": [64, 256]},
        "scale": {"type": "float", "low": 2.0, "high": 30.0, "log": True},
    }

    def __init__(self, dim: int = 256, scale: float = 10.0, max_pages: int = 3) -> None:
        self.dim = dim
        self.scale = scale
        self.max_pages = max_pages

    def _vectors(self, records: list[Record]) -> np.ndarray:
        """log(1 + hashed word counts), unit length (a record without words stays all zero)."""
        X = np.zeros((len(records), int(self.dim)), dtype=np.float64)
        for i, record in enumerate(records):
            for word in _WORD.findall(record_text(record, int(self.max_pages)).lower()):
                X[i, zlib.crc32(word.encode("utf-8")) % int(self.dim)] += 1.0
        X = np.log1p(X)
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)  # type: ignore[no-any-return]

    def _fit(self, records: list[Record], Y: np.ndarray, *, val: Any, sample_weight: np.ndarray | None,
             **options: Any) -> None:
        if os.environ.get("TINY_FIT_LOG"):  # tests count the processes that fit (torchrun: rank 0 alone)
            with open(os.environ["TINY_FIT_LOG"], "a", encoding="utf-8") as fh:
                fh.write(f"{os.environ.get('RANK', '-')}\n")
        X = self._vectors(records)
        w = np.ones(len(records)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        members = Y.astype(np.float64) if self.multi_label_ else np.eye(len(self.classes_))[Y]  # (n, classes)
        C = (members * w[:, None]).T @ X
        self.centroids_ = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
        self.offsets_ = np.zeros(len(self.classes_))
        if self.multi_label_:  # a class's sigmoid crosses 0.5 halfway between its members' and the others' cosines
            cos = X @ self.centroids_.T
            for j in range(len(self.classes_)):
                inside = members[:, j] > 0
                pos = cos[inside, j].mean() if inside.any() else 1.0
                neg = cos[~inside, j].mean() if (~inside).any() else 0.0
                self.offsets_[j] = (pos + neg) / 2

    def _logits(self, records: list[Record]) -> np.ndarray:
        return float(self.scale) * (self._vectors(records) @ self.centroids_.T - self.offsets_)  # type: ignore[no-any-return]

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"centroids": self.centroids_, "offsets": self.offsets_}, {"hash": "crc32", "tokenizer": _WORD.pattern}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.centroids_ = arrays["centroids"]
        self.offsets_ = arrays["offsets"]
