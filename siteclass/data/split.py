"""Deterministic split by a hash of the registered domain.

A row's side depends only on its group key (the registered domain, or its id when it has none) and the
seed: one site never lands on two sides, the same site lands on the same side whatever other rows are in
the input, and because the hash is independent of the label every class is split in the same proportions
(stratified in expectation; the per-split class counts are reported in stats.json). Output rows are shuffled
by a second hash so no file is ordered by class.
"""

from __future__ import annotations

import hashlib

import numpy as np

SPLIT_NAMES = ("train", "val", "test")
_SCALE = float(2**64)


def hash64(*parts: object) -> int:
    """Stable 64-bit hash of the parts (blake2b; never Python's salted ``hash``)."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def group_key(domain: str, row_id: str) -> str:
    return domain if domain else f"id:{row_id}"


def split_of(group: str, fractions: tuple[float, float, float], seed: int) -> int:
    """0 (train), 1 (val) or 2 (test) for a group key."""
    u = hash64("split", seed, group) / _SCALE
    train, val, _ = normalize_fractions(fractions)
    if u < train:
        return 0
    if u < train + val:
        return 1
    return 2


def normalize_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    a, b, c = (float(x) for x in fractions)
    total = a + b + c
    return a / total, b / total, c / total


def shuffle_key(seed: int, row_id: str, ordinal: int) -> int:
    return hash64("order", seed, row_id, ordinal)


def copy_keys(keys: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """Order keys of the *copy*-th copies of rows with order *keys* (upsampling; copy 0 included)."""
    with np.errstate(over="ignore"):
        x = keys.astype(np.uint64) + (copy.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))  # type: ignore[no-any-return]


def bucket_of(keys: np.ndarray, bits: int) -> np.ndarray:
    """Top *bits* bits of uint64 keys: concatenating buckets in order gives the rows in key order."""
    if bits == 0:
        return np.zeros(len(keys), dtype=np.int64)
    return (keys >> np.uint64(64 - bits)).astype(np.int64)
