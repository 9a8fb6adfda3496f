"""Class filtering and balancing decisions, made on hashes and label ids only (no texts in memory).

Balancing changes the train split only; val and test keep their natural distribution so that metrics stay
honest. A multi-label row is balanced as its rarest label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from siteclass.data.split import hash64


@dataclass
class Meta:
    """Per kept row: order key, split (0/1/2) and label ids (CSR: ``offsets`` into ``label_ids``)."""

    keys: np.ndarray
    splits: np.ndarray
    offsets: np.ndarray
    label_ids: np.ndarray
    vocab: list[str]

    def labels_of(self, i: int) -> np.ndarray:
        return self.label_ids[self.offsets[i]:self.offsets[i + 1]]  # type: ignore[no-any-return]


@dataclass
class Plan:
    """Outcome per kept row: copies (0 = dropped), weight, surviving label names; counts and dropped classes."""

    copies: np.ndarray
    weights: np.ndarray
    labels: list[str]                 # final ordered labels
    keep_label: np.ndarray            # per vocab id: label survives min_per_class
    dropped_classes: dict[str, int]   # label → rows it had
    class_too_small: int              # rows dropped because no label survived
    downsampled: int
    upsampled_added: int


def _row_class(meta: Meta, keep: np.ndarray, counts: np.ndarray, i: int) -> int:
    ids = [int(x) for x in meta.labels_of(i) if keep[x]]
    if not ids:
        return -1
    return min(ids, key=lambda x: (counts[x], meta.vocab[x]))


def make_plan(meta: Meta, min_per_class: int, balance: str, factor: float) -> Plan:
    n, k = len(meta.keys), len(meta.vocab)
    total = np.bincount(meta.label_ids, minlength=k) if k else np.zeros(0, dtype=np.int64)
    keep = total >= max(min_per_class, 1)
    dropped = {meta.vocab[j]: int(total[j]) for j in range(k) if not keep[j]}
    row_train = meta.splits == 0
    train_counts = np.zeros(k, dtype=np.int64)
    for i in np.flatnonzero(row_train).tolist():
        for x in meta.labels_of(i):
            if keep[x]:
                train_counts[x] += 1
    cls = np.array([_row_class(meta, keep, train_counts, i) for i in range(n)], dtype=np.int64)
    copies = np.where(cls >= 0, 1, 0).astype(np.int64)
    too_small = int((cls < 0).sum())
    weights = np.ones(n, dtype=np.float64)
    downsampled: int = 0
    added: int = 0
    tr = np.flatnonzero(row_train & (cls >= 0))
    present = np.flatnonzero(train_counts > 0)
    if len(tr) and len(present):
        per_class = np.bincount(cls[tr], minlength=k)
        h = np.array([hash64("balance", int(meta.keys[i])) for i in tr], dtype=np.uint64)
        order = np.lexsort((h, cls[tr]))
        sorted_cls = cls[tr][order]
        starts = np.searchsorted(sorted_cls, sorted_cls, side="left")
        rank = np.empty(len(tr), dtype=np.int64)
        rank[order] = np.arange(len(tr)) - starts
        c_of = per_class[cls[tr]]
        if balance == "downsample":
            smallest = int(per_class[per_class > 0].min())
            target = np.minimum(per_class, math.ceil(factor * smallest))
            keep_row = rank < target[cls[tr]]
            copies[tr] = keep_row.astype(np.int64)
            downsampled = int((~keep_row).sum())
        elif balance == "upsample":
            largest = int(per_class.max())
            base = largest // c_of
            copies[tr] = base + (rank < (largest - base * c_of)).astype(np.int64)
            added = int(copies[tr].sum() - len(tr))
        elif balance == "weights":
            n_classes = len(present)
            w_class = np.where(train_counts > 0, len(tr) / (n_classes * np.maximum(train_counts, 1)), 1.0)
            for i in range(n):
                ids = [int(x) for x in meta.labels_of(i) if keep[x]]
                if ids:
                    weights[i] = float(np.mean(w_class[ids]))
    labels = sorted(meta.vocab[j] for j in range(k) if keep[j])
    return Plan(copies, weights, labels, keep, dropped, too_small, downsampled, added)
