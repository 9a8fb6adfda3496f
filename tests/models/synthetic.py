"""Tiny synthetic labeled records shared by the model contract tests: four industries' keywords plus noise."""

from __future__ import annotations

import numpy as np

CLASSES = {
    "bakery": "bread cake flour oven pastry croissant baker dough",
    "law": "attorney court lawyer legal litigation counsel contract trial",
    "software": "cloud code api developer platform saas app data",
    "plumbing": "pipe leak drain boiler plumber water heating valve",
}
NOISE = ["the", "and", "our", "we", "are", "best", "local", "team", "service", "quality", "customers", "since", "years"]


def synth(n: int, seed: int, multi: bool = False) -> tuple[list[dict], list]:
    rng = np.random.default_rng(seed)
    names = sorted(CLASSES)
    records, labels = [], []
    for i in range(n):
        k = 2 if multi and rng.random() < 0.4 else 1
        chosen = sorted(rng.choice(names, size=k, replace=False).tolist())
        words = [w for c in chosen for w in rng.choice(CLASSES[c].split(), size=4).tolist()]
        words += rng.choice(NOISE, size=8).tolist()
        rng.shuffle(words)
        records.append({"name": f"Company {i}", "text": " ".join(words)})
        labels.append(chosen if multi else chosen[0])
    return records, labels
