"""The NAICS 2022 hierarchy behind the bundled zero-shot model: 6-digit codes, their titles and index entries.

    index = naics_index()                       # loaded once per process from the files shipped here
    sector_scores, best = index.score(vectors, texts, sectors)   # (n, 20) sector scores, (n, 20) code rows
    index.codes[best[i, j]], index.titles[best[i, j]]             # the 6-digit code of sector j for record i

Shipped beside this module (public domain, US Census Bureau; regenerate with ``python -m
siteclass.models.taxonomy.build``):

- ``naics_2022_codes.csv.gz``: every code (2- to 6-digit) and its title;
- ``naics_2022_index.csv.gz``: the Census index, ~20,000 short activity descriptions, each under a 6-digit code;
- ``naics_2022_vectors.safetensors``: one unit vector (float16) per 6-digit code, the normalised sum of the
  encoder's unit embeddings of its title and of each of its index entries (a code with many entries weighs them
  more than its title), and the encoder and token limit that made them in the metadata.

A record is scored against each sector with three signals (weights in ``siteclass.config.ZeroShotParams``):
the sector prompt (the model's label embedding), the mean of its ``top_codes`` best code vectors (cosine), and
the mean of its ``top_codes`` best codes by TF-IDF (the record's words against each code's title and entries),
the best codes taken one per ``code_group_digits``-digit industry.
A sector's code is its best code by ``code_weight · cosine + lexical_weight · tfidf``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
CODES_FILE = HERE / "naics_2022_codes.csv.gz"
INDEX_FILE = HERE / "naics_2022_index.csv.gz"
VECTORS_FILE = HERE / "naics_2022_vectors.safetensors"
SPLIT_SECTORS = {"31": "31-33", "32": "31-33", "33": "31-33", "44": "44-45", "45": "44-45", "48": "48-49",
                 "49": "48-49"}


def sector_of(code: str) -> str:
    """The NAICS sector of a code as the bundled sectors write it (``331110`` → ``31-33``, ``522110`` → ``52``)."""
    return SPLIT_SECTORS.get(code[:2], code[:2])


def read_gz_csv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_gz_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A gzip CSV whose bytes depend on the rows only (no timestamp): rebuilding gives the same file."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(buf.getvalue().encode("utf-8"))


@dataclass
class NaicsIndex:
    """The 6-digit codes with their titles, sector, index text and shipped vectors (rows aligned)."""

    codes: list[str]
    titles: list[str]
    entries: list[list[str]]
    vectors: np.ndarray  # (n_codes, dim) float32, unit rows
    meta: dict[str, str] = field(default_factory=dict)
    _tfidf: Any = None
    _docs: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sectors(self) -> list[str]:
        return [sector_of(c) for c in self.codes]

    def title_of(self, code: str) -> str:
        return self.titles[self.codes.index(code)]

    def documents(self) -> list[str]:
        """The text of each code for the lexical signal: its title, then its index entries."""
        return [". ".join([t, *e]) for t, e in zip(self.titles, self.entries)]

    def lexical(self, texts: list[str]) -> np.ndarray:
        """(len(texts), n_codes) TF-IDF cosine of each text against each code's document (fitted once)."""
        with self._lock:
            if self._tfidf is None:
                from sklearn.feature_extraction.text import TfidfVectorizer

                vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", dtype=np.float32)
                self._docs = vec.fit_transform(self.documents()).T.tocsr()
                self._tfidf = vec
        return np.asarray((self._tfidf.transform(texts) @ self._docs).toarray(), dtype=np.float32)

    def group_starts(self, digits: int) -> np.ndarray:
        """First row of each run of codes sharing their first *digits* digits (the codes are sorted)."""
        prefixes = [c[:digits] for c in self.codes]
        return np.array([i for i, p in enumerate(prefixes) if i == 0 or p != prefixes[i - 1]], dtype=np.int64)

    def score(
        self, vectors: np.ndarray, texts: list[str], sectors: list[str], *, top_codes: int,
        code_weight: float, lexical_weight: float, group_digits: int = 6, lexical: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per record and sector: the code signal (cosine and TF-IDF, each the mean of the sector's ``top_codes``
        best codes, weighted) and the row of the sector's best code; a sector without codes scores 0, row -1.

        The best codes of a sector are taken one per *group_digits*-digit industry (each industry's best), so a
        cluster of sibling codes (dental laboratories, dental equipment: both 33911) counts once, not ``top_codes``
        times. *lexical*: ``self.lexical(texts)`` when already computed (a benchmark trying several weights)."""
        cos = vectors @ self.vectors.T
        if lexical is not None:
            lex = lexical
        else:
            lex = self.lexical(texts) if lexical_weight else np.zeros_like(cos)
        both = code_weight * cos + lexical_weight * lex
        n = len(vectors)
        scores = np.zeros((n, len(sectors)), dtype=np.float64)
        best = np.full((n, len(sectors)), -1, dtype=np.int64)
        code_sectors = np.array(self.sectors)
        starts = self.group_starts(group_digits)
        group_cos = np.maximum.reduceat(cos, starts, axis=1) if len(self.codes) else cos
        group_lex = np.maximum.reduceat(lex, starts, axis=1) if len(self.codes) else lex
        group_sectors = code_sectors[starts]
        for j, sector in enumerate(sectors):
            cols = np.flatnonzero(code_sectors == sector)
            if cols.size == 0:
                continue
            groups = np.flatnonzero(group_sectors == sector)
            k = min(top_codes, groups.size)
            top_cos = np.partition(group_cos[:, groups], -k, axis=1)[:, -k:].mean(axis=1)
            top_lex = np.partition(group_lex[:, groups], -k, axis=1)[:, -k:].mean(axis=1)
            scores[:, j] = code_weight * top_cos + lexical_weight * top_lex
            best[:, j] = cols[both[:, cols].argmax(axis=1)]
        return scores, best


def read_codes(path: Path = CODES_FILE) -> dict[str, str]:
    """Every code → title (``31-33`` style sectors kept as written)."""
    return {r["code"]: r["title"] for r in read_gz_csv(path)}


def read_entries(path: Path = INDEX_FILE) -> dict[str, list[str]]:
    """6-digit code → its index entries, in file order."""
    out: dict[str, list[str]] = {}
    for r in read_gz_csv(path):
        out.setdefault(r["code"], []).append(r["description"])
    return out


def six_digit_codes(titles: dict[str, str]) -> list[str]:
    return sorted(c for c in titles if len(c) == 6 and c.isdigit())


_INDEX: NaicsIndex | None = None
_INDEX_LOCK = threading.Lock()


def naics_index() -> NaicsIndex:
    """The shipped hierarchy and vectors, loaded once per process."""
    global _INDEX
    with _INDEX_LOCK:
        if _INDEX is None:
            from safetensors import safe_open

            titles = read_codes()
            entries = read_entries()
            with safe_open(str(VECTORS_FILE), framework="np") as fh:
                meta = dict(fh.metadata() or {})
                vectors = fh.get_tensor("vectors").astype(np.float32)
            codes = list(json.loads(meta["codes"]))
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            _INDEX = NaicsIndex(codes, [titles[c] for c in codes], [entries.get(c, []) for c in codes], vectors,
                                {k: v for k, v in meta.items() if k != "codes"})
        return _INDEX


__all__ = ["CODES_FILE", "INDEX_FILE", "VECTORS_FILE", "NaicsIndex", "naics_index", "sector_of"]
