"""Near-duplicate detection that scales: one-permutation MinHash signatures of word shingles, banded LSH, verification.

Only hashes stay in memory (per document: a 64 × 16-bit signature and 8 band keys), never texts. The index
holds every document seen, in input order; a document is a near-duplicate when its estimated Jaccard
similarity with an *earlier* document reaches the threshold. For each band the earliest earlier document
with the same band key is the candidate, so the decisions do not depend on how the input is batched.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


# Code points that separate words (inclusive ranges). Fixed here, not taken from a Unicode database, so the
# words of a text never change with a library's or Python's Unicode version. Everything else is part of a word
# (letters, marks and digits of every script).
SEPARATORS: tuple[tuple[int, int], ...] = (
    (0x00, 0x2F), (0x3A, 0x40), (0x5B, 0x5E), (0x60, 0x60), (0x7B, 0x7F),  # ASCII but letters, digits, _
    # C1 controls, no-break space, Latin-1 punctuation and symbols (¡ ¢ £ ¤ ¥ ¦ § ¨ © « ¬ soft hyphen ® ¯ ° ±
    # ´ ¶ · ¸ » ¿), not the letters and numbers among them (ª ² ³ µ ¹ º ¼ ½ ¾)
    (0x80, 0xA9), (0xAB, 0xB1), (0xB4, 0xB4), (0xB6, 0xB8), (0xBB, 0xBB), (0xBF, 0xBF),
    (0xD7, 0xD7), (0xF7, 0xF7),  # × ÷
    (0x2000, 0x206F),  # General Punctuation: spaces, dashes, quotes, bullets, ellipsis, invisible marks
    (0x20A0, 0x20CF),  # currency symbols
    (0x2190, 0x23FF),  # arrows, mathematical operators, technical symbols
    (0x2500, 0x27BF),  # box drawing, blocks, shapes, miscellaneous symbols, dingbats
    (0x2E00, 0x2E7F),  # supplemental punctuation
    (0x3000, 0x303F),  # CJK symbols and punctuation (ideographic space, brackets, 。、)
    (0xFE30, 0xFE4F), (0xFE50, 0xFE6F),  # CJK compatibility forms, small form variants
    (0xFEFF, 0xFEFF),  # byte order mark
    (0xFF00, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),  # fullwidth ASCII punctuation
    (0xFFF0, 0xFFFF),  # specials (replacement character)
    (0x1F000, 0x1FAFF),  # emoji, pictographs, playing cards, mahjong and domino tiles
)
_ASCII_SEPARATORS = bytes(b for lo, hi in SEPARATORS for b in range(lo, min(hi, 0x7F) + 1))
_EMPTY_HASHES = np.zeros(0, dtype=np.uint64)


@functools.cache
def _separator_table() -> np.ndarray:
    """``bool`` per code point: True for the separators."""
    table = np.zeros(0x110000, dtype=bool)
    for lo, hi in SEPARATORS:
        table[lo:hi + 1] = True
    return table


@functools.cache
def _byte_classes() -> bytes:
    """``bytes.translate`` table: 1 for a byte that is part of a word (ASCII word characters, and every
    non-ASCII byte until :func:`_split_words` looks at the character it belongs to), 0 for a separator."""
    return bytes(0 if (b < 0x80 and _separator_table()[b]) else 1 for b in range(256))


def hash_words(words: list[bytes]) -> np.ndarray:
    """``uint64`` word hashes: BLAKE2b (RFC 7693) with an 8-byte digest of the word, read little-endian."""
    if not words:
        return _EMPTY_HASHES
    digests = b"".join(hashlib.blake2b(w, digest_size=8).digest() for w in words)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def _non_ascii_separators(data: np.ndarray) -> np.ndarray:
    """Positions of the bytes of *data* (valid UTF-8) that belong to a non-ASCII separator character."""
    high = np.flatnonzero(data >= 0x80)
    if len(high) == 0:
        return high
    pad = np.concatenate([data, np.zeros(3, dtype=np.uint8)]).astype(np.int32)
    b0 = pad[high]
    cp = np.zeros(len(high), dtype=np.int32)  # stays 0 at continuation bytes
    for width, payload in ((2, 0x1F), (3, 0x0F), (4, 0x07)):  # lead bytes 110xxxxx, 1110xxxx, 11110xxx
        sel = (b0 >> (7 - width)) == (0xFF >> (7 - width)) - 1
        at = high[sel]
        v = pad[at] & payload
        for k in range(1, width):
            v = (v << 6) | (pad[at + k] & 0x3F)
        cp[sel] = v
    # a continuation byte (10xxxxxx) belongs to the character of the closest lead byte before it
    owner = np.maximum.accumulate(np.where(b0 >= 0xC0, np.arange(len(high)), 0))
    return high[_separator_table()[cp[owner]]]


def _split_words(texts: Sequence[str | None]) -> tuple[pa.Array, np.ndarray]:
    """The words of each text (lower-cased, first MAX_WORDS) as one binary array, and the word count per text."""
    arr = pc.utf8_lower(pc.fill_null(pa.array(texts, type=pa.large_string()), ""))
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    buf = arr.buffers()[2]
    text = bytearray(memoryview(buf)[offsets[0]:offsets[-1]]) if buf is not None else bytearray()
    offsets = offsets - offsets[0]
    data = np.frombuffer(text, dtype=np.uint8)  # a view: writes go to `text`
    data[_non_ascii_separators(data)] = 0x20  # from here on every separator byte is an ASCII one
    word = np.frombuffer(text.translate(_byte_classes()), dtype=np.int8)  # 1: part of a word
    edges = np.diff(word, prepend=np.int8(0), append=np.int8(0))  # +1 where a word starts, -1 after it ends
    is_start, is_end = edges == 1, edges == -1
    # a run of word bytes across the end of one text and the start of the next is two words
    inner = offsets[1:-1]
    inner = inner[(inner > 0) & (inner < len(word))]
    cut = inner[(word[inner - 1] == 1) & (word[inner] == 1)]
    is_start[cut] = is_end[cut] = True
    starts, ends = np.flatnonzero(is_start), np.flatnonzero(is_end)
    first = np.searchsorted(starts, offsets)  # index of each text's first word; first[n]: the word count
    counts = np.diff(first)
    over = np.flatnonzero(counts > MAX_WORDS)
    if len(over):  # keep each text's first MAX_WORDS words: drop words lo..hi-1 of each longer text
        lo, hi = first[over] + MAX_WORDS, first[over + 1]
        drop = np.zeros(len(starts) + 1, dtype=np.int8)
        drop[lo], drop[hi] = 1, -1
        keep = np.cumsum(drop[:-1], dtype=np.int8) == 0
        for a, b in zip(starts[lo].tolist(), ends[hi - 1].tolist()):
            data[a:b] = 0x20
        starts, ends = starts[keep], ends[keep]
        counts = np.minimum(counts, MAX_WORDS)
    word_offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
    chars = text.translate(None, _ASCII_SEPARATORS)  # the bytes of the words kept, one after the other
    words = pa.Array.from_buffers(pa.large_binary(), len(starts),
                                  [None, pa.py_buffer(word_offsets), pa.py_buffer(chars)])
    return words, counts.astype(np.int64)


def word_hashes(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Stable 64-bit hashes of the words of each text (its first MAX_WORDS) and the word count per text.

    The specification (a dataset rebuilt after a library upgrade drops the same near-duplicates):

    - a text is lower-cased with the Unicode simple lower-case mapping of each character (Arrow's
      ``utf8_lower``; Unicode keeps the mappings of assigned characters stable); a missing text is "";
    - its words are the maximal runs of characters not in :data:`SEPARATORS` (ASCII letters, digits and ``_``,
      and every non-ASCII character outside the listed punctuation, symbol and space ranges):
      ``"Café_au-lait, 42!"`` is ``café_au``, ``lait``, ``42``;
    - a word's hash is :func:`hash_words`: the 8-byte BLAKE2b digest of its UTF-8 bytes as a little-endian
      unsigned 64-bit integer (``tests/data/test_dataset_units.py`` pins a few).

    Vectorised over the texts' UTF-8 bytes with numpy; each distinct word of the call is hashed once. Returns
    ``(hashes, counts)``: the hashes of every text's words in order, one text after the other, and
    ``counts[i]``, the number of words of text ``i``.
    """
    if not texts:
        return _EMPTY_HASHES, np.zeros(0, dtype=np.int64)
    words, counts = _split_words(texts)
    if len(words) == 0:
        return _EMPTY_HASHES, counts
    encoded = words.dictionary_encode()
    distinct = hash_words(encoded.dictionary.to_pylist())
    return distinct[encoded.indices.to_numpy()], counts


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
