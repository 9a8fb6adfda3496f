"""Nearest-neighbour label votes over sentence embeddings: a model member that remembers its training rows.

A linear scorer draws one boundary per class; the labels of a site's nearest training sites carry what one
boundary misses (a niche inside a broad class, a label that goes with another). ``NeighbourVotes`` keeps the
L2-normalised embeddings of the rows it was fitted on (saved as float16: 384-d × 26K rows ≈ 20 MB) and their labels; the
vote of a query for class j is the similarity-weighted share of its ``k`` nearest rows (cosine) that carry j, each
neighbour weighing ``max(cos, 0) ** power`` — in [0, 1] for single- and multi-label data alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NeighbourVotes"]

_CHUNK = 1024  # queries per similarity block: 1024 × 26K float32 ≈ 100 MB


class NeighbourVotes:
    """k-nearest-neighbour label votes (cosine over embeddings); see the module docstring."""

    def __init__(self, k: int = 25, power: float = 4.0) -> None:
        self.k = k
        self.power = power

    def fit(self, E: np.ndarray, Y: np.ndarray, n_classes: int) -> NeighbourVotes:
        """``E``: embeddings (n × d); ``Y``: class indices (single-label) or a multi-hot matrix (multi-label)."""
        # rounded to float16 (what is saved), held as float32 (what the similarity product wants): a loaded model
        # votes exactly as the fitted one
        self.memory_ = _normalise(E).astype(np.float16).astype(np.float32)
        self.labels_ = (np.asarray(Y, dtype=np.int64) if Y.ndim == 1 else np.asarray(Y, dtype=np.uint8))
        self.n_classes_ = n_classes
        return self

    def _label_rows(self, idx: np.ndarray) -> np.ndarray:
        if self.labels_.ndim == 1:  # single-label: one-hot of the neighbours' classes (-1: none)
            lab = self.labels_[idx]
            out = np.zeros((*idx.shape, self.n_classes_), dtype=np.float32)
            ok = lab >= 0
            out[ok, lab[ok]] = 1.0
            return out
        return self.labels_[idx].astype(np.float32)

    def votes(self, E: np.ndarray) -> np.ndarray:
        """The votes of queries ``E`` (n × d embeddings): n × classes, each in [0, 1]."""
        memory = self.memory_
        Q = _normalise(E)
        k = max(1, min(self.k, len(memory)))
        out = np.zeros((len(Q), self.n_classes_), dtype=np.float64)
        for s in range(0, len(Q), _CHUNK):
            sim = Q[s : s + _CHUNK] @ memory.T
            idx = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < sim.shape[1] else np.argsort(-sim, axis=1)
            w = np.take_along_axis(sim, idx, axis=1).clip(0.0) ** self.power
            total = w.sum(axis=1, keepdims=True)
            out[s : s + _CHUNK] = np.einsum("nk,nkc->nc", w, self._label_rows(idx)) / np.maximum(total, 1e-12)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"knn_memory": self.memory_.astype(np.float16), "knn_labels": self.labels_}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_classes: int, k: int, power: float) -> NeighbourVotes:
        votes = cls(k, power)
        votes.memory_ = arrays["knn_memory"].astype(np.float32)
        votes.labels_, votes.n_classes_ = arrays["knn_labels"], n_classes
        return votes


def _normalise(E: np.ndarray) -> np.ndarray:
    E = np.asarray(E, dtype=np.float32)
    return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)  # type: ignore[no-any-return]
