"""Near-duplicate detection that scales: one-permutation MinHash signatures of word shingles, banded LSH, verification.

Only hashes stay in memory (per document: a 64 × 16-bit signature and 8 band keys), never texts. The index
holds every document seen, in input order; a document is a near-duplicate when its estimated Jaccard
similarity with an *earlier* document reaches the threshold. For each band the earliest earlier document
with the same band key is the candidate, so the decisions do not depend on how the input is batched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_PERM = 64
BANDS = 8
ROWS = NUM_PERM // BANDS
MAX_WORDS = 1000  # words of a document used for its signature
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_rng = np.random.default_rng(20240607)
_BAND_MUL = (_rng.integers(1, 2**63, ROWS, dtype=np.uint64) | np.uint64(1)).astype(np.uint64)
_BAND_SALT = _rng.integers(0, 2**63, BANDS, dtype=np.uint64).astype(np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 → uint64, wrapping)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M2
        x = (x ^ (x >> np.uint64(27))) * _M3
        return x ^ (x >> np.uint64(31))  # type: ignore[no-any-return]


def word_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Stable 64-bit hashes of the lower-cased words of each text (capped) and the word count per text."""
    import polars as pl

    words = pl.Series("t", texts, dtype=pl.String).str.to_lowercase().str.extract_all(r"\w+")
    words = words.list.head(MAX_WORDS)
    counts = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = words.explode().drop_nulls()
    hashes = flat.hash(seed=7).to_numpy().astype(np.uint64)
    return hashes, counts


def signatures(texts: list[str], shingle_words: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """One-permutation MinHash signatures (densified) ``(n, NUM_PERM) uint16`` of word *shingle_words*-grams, and a mask of texts with words.

    A text shorter than *shingle_words* words is one shingle of all its words.
    """
    n = len(texts)
    sig = np.full((n, NUM_PERM), np.iinfo(np.uint16).max, dtype=np.uint16)
    h, counts = word_hashes(texts)
    has_words = counts > 0
    if not has_words.any():
        return sig, has_words
    k = max(1, shingle_words)
    ends = np.cumsum(counts)
    starts = ends - counts
    doc_of = np.repeat(np.arange(n), counts)
    pos = np.arange(len(h))
    end_of = ends[doc_of]
    # shingle i covers words i .. i+k-1 of its document (missing words of a short document count as 0)
    valid = (pos + k <= end_of) | ((pos == starts[doc_of]) & (counts[doc_of] < k))
    s = np.zeros(len(h), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            idx = pos + j
            inside = idx < end_of
            part = np.where(inside, h[np.minimum(idx, len(h) - 1)], np.uint64(0))
            s = s * _M1 + part
    sh = _mix(s[valid])
    sh_doc = doc_of[valid]
    # one-permutation hashing: the top 6 bits pick a bin, 16 lower bits are the value; min per (doc, bin)
    bins = (sh >> np.uint64(58)).astype(np.int64)
    vals = ((sh >> np.uint64(20)) & np.uint64(0xFFFF)).astype(np.uint16)
    flat = sig.reshape(-1)
    np.minimum.at(flat, sh_doc * NUM_PERM + bins, vals)
    sig = flat.reshape(n, NUM_PERM)
    filled = np.zeros((n, NUM_PERM), dtype=bool)
    filled.reshape(-1)[sh_doc * NUM_PERM + bins] = True
    _densify(sig, filled, has_words)
    return sig, has_words


def _densify(sig: np.ndarray, filled: np.ndarray, rows: np.ndarray) -> None:
    """Rotation densification: an empty bin takes the next filled bin's value (circularly), offset by the
    distance, so two documents with the same shingles get the same signature (in place)."""
    idx = np.arange(2 * NUM_PERM)
    f2 = np.concatenate([filled, filled], axis=1)
    nxt = np.where(f2, idx, 2 * NUM_PERM)
    nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1][:, :NUM_PERM]
    need = ~filled & rows[:, None]
    r, c = np.nonzero(need)
    src = nxt[r, c]
    dist = (src - c).astype(np.uint16)
    with np.errstate(over="ignore"):
        sig[r, c] = sig[r, src % NUM_PERM] + dist * np.uint16(0x9E37)


def band_keys(sig: np.ndarray) -> np.ndarray:
    """``(n, BANDS) uint64`` LSH keys: each band of ROWS signature values hashed to one key."""
    bands = sig.reshape(len(sig), BANDS, ROWS).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = (bands * _BAND_MUL).sum(axis=2, dtype=np.uint64) + _BAND_SALT
    return _mix(keys)


@dataclass
class _Run:
    keys: np.ndarray  # sorted uint64
    docs: np.ndarray  # int64, doc id of each key (earliest first among equal keys)


class NearDupIndex:
    """Append-only LSH index over documents in input order; ``add`` returns which new ones are duplicates."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._runs: list[_Run] = []
        self._sig = np.zeros((0, NUM_PERM), dtype=np.uint16)
        self._group = np.zeros(0, dtype=np.int64)
        self.size = 0

    def _store(self, sig: np.ndarray, group: np.ndarray) -> None:
        need = self.size + len(sig)
        if need > len(self._sig):
            cap = max(need, 2 * len(self._sig), 1024)
            self._sig = np.resize(self._sig, (cap, NUM_PERM))
            self._group = np.resize(self._group, cap)
        self._sig[self.size:need] = sig
        self._group[self.size:need] = group
        self.size = need

    def _add_run(self, keys: np.ndarray, docs: np.ndarray) -> None:
        order = np.lexsort((docs, keys))
        self._runs.append(_Run(keys[order], docs[order]))
        while len(self._runs) > 1 and len(self._runs[-2].keys) <= 2 * len(self._runs[-1].keys):
            b, a = self._runs.pop(), self._runs.pop()
            k, d = np.concatenate([a.keys, b.keys]), np.concatenate([a.docs, b.docs])
            o = np.lexsort((d, k))
            self._runs.append(_Run(k[o], d[o]))

    def add(self, sig: np.ndarray, group: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Index the *active* documents of a batch; return per document 0 (unique), 1 (duplicate of an earlier
        document of the same group) or 2 (duplicate of another group's document)."""
        n = len(sig)
        result = np.zeros(n, dtype=np.int8)
        act = np.flatnonzero(active)
        if len(act) == 0:
            return result
        sig, group = sig[act], group[act]
        ids = np.arange(self.size, self.size + len(act), dtype=np.int64)
        keys = band_keys(sig)  # (m, BANDS)
        flat_keys = keys.ravel()
        flat_ids = np.repeat(ids, BANDS)
        best = np.full(len(flat_keys), -1, dtype=np.int64)
        for run in self._runs:  # earliest indexed doc with the same key
            pos = np.searchsorted(run.keys, flat_keys)
            hit = pos < len(run.keys)
            hit[hit] = run.keys[pos[hit]] == flat_keys[hit]
            cand = np.where(hit, run.docs[np.minimum(pos, len(run.keys) - 1)], -1)
            best = np.where((best < 0) | ((cand >= 0) & (cand < best)), np.where(cand >= 0, cand, best), best)
        # earliest earlier doc of this batch with the same key (only when none was indexed before)
        o = np.lexsort((flat_ids, flat_keys))
        sk, sid = flat_keys[o], flat_ids[o]
        first = np.r_[True, sk[1:] != sk[:-1]]
        grp_first = sid[np.maximum.accumulate(np.where(first, np.arange(len(sk)), 0))]
        in_batch = np.empty_like(best)
        in_batch[o] = np.where(first, -1, grp_first)
        best = np.where(best >= 0, best, in_batch)
        self._store(sig, group)
        self._add_run(flat_keys, flat_ids)
        has = best >= 0
        if has.any():
            q = (flat_ids[has] - ids[0]).astype(np.int64)
            c = best[has]
            sim = (self._sig[ids[0] + q] == self._sig[c]).mean(axis=1)
            ok = sim >= self.threshold
            q, c = q[ok], c[ok]
            same = self._group[c] == group[q]
            # a same-group match wins over another group's match
            res = np.zeros(len(act), dtype=np.int8)
            np.maximum.at(res, q, np.where(same, 3, 2).astype(np.int8))
            result[act] = np.where(res == 3, 1, res)
        return result
