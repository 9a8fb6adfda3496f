"""Regenerate the NAICS files shipped with the bundled zero-shot model.

    python -m siteclass.models.taxonomy.build                        # vectors from the shipped CSVs (~4 min, CPU)
    python -m siteclass.models.taxonomy.build --source ../shared/data/naics   # first copy the Census CSVs in

``--source DIR`` reads ``naics_2022_codes.csv`` and ``naics_2022_index.csv`` (the US Census Bureau's NAICS 2022
files, public domain) and writes them here gzipped (``naics_2022_codes.csv.gz``, ``naics_2022_index.csv.gz``).
Then every 6-digit code's vector is the normalised sum of the bundled encoder's unit embeddings of its title and
of each of its index entries (``siteclass.models.taxonomy.naics``), written as float16 to
``naics_2022_vectors.safetensors`` with the codes, the encoder and the token limit in its metadata.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from siteclass.models.taxonomy.naics import (
    CODES_FILE,
    INDEX_FILE,
    VECTORS_FILE,
    read_codes,
    read_entries,
    six_digit_codes,
    write_gz_csv,
)

ENCODER = "all-MiniLM-L6-v2"
MAX_TOKENS = 128  # index entries and titles are short: none is cut


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)  # type: ignore[no-any-return]


def copy_sources(source: Path) -> None:
    """The Census CSVs of *source*, written here gzipped (codes: code,title; index: code,description)."""
    for name, target, cols in (("naics_2022_codes.csv", CODES_FILE, ["code", "title"]),
                               ("naics_2022_index.csv", INDEX_FILE, ["code", "description"])):
        with (source / name).open(encoding="utf-8-sig", newline="") as fh:
            rows = [[r[c].strip() for c in cols] for r in csv.DictReader(fh)]
        write_gz_csv(target, cols, rows)
        print(f"{target.name}: {len(rows)} rows")


def code_vectors(codes: list[str], titles: dict[str, str], entries: dict[str, list[str]], encoder: object) -> np.ndarray:
    """(len(codes), dim) unit vectors: normalised sum of the unit embeddings of each code's title and entries."""
    texts = sorted({titles[c] for c in codes} | {e for c in codes for e in entries.get(c, [])})
    at = {t: i for i, t in enumerate(texts)}
    emb = _unit(np.asarray(encoder.encode(texts), dtype=np.float32))  # type: ignore[attr-defined]
    out = np.stack([emb[[at[titles[c]], *(at[e] for e in entries.get(c, []))]].sum(axis=0) for c in codes])
    return _unit(out)


def build_vectors(out: Path = VECTORS_FILE) -> Path:
    from safetensors.numpy import save_file

    from siteclass.models.encoder import get_encoder

    titles, entries = read_codes(), read_entries()
    codes = six_digit_codes(titles)
    started = time.perf_counter()
    vectors = code_vectors(codes, titles, entries, get_encoder(ENCODER, MAX_TOKENS))
    meta = {"codes": json.dumps(codes), "encoder": ENCODER, "max_tokens": str(MAX_TOKENS),
            "recipe": "unit(sum(unit(embed(title)), unit(embed(entry)) for each index entry))"}
    save_file({"vectors": vectors.astype(np.float16)}, str(out), metadata=meta)
    print(f"{out.name}: {len(codes)} codes × {vectors.shape[1]} in {time.perf_counter() - started:.0f}s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m siteclass.models.taxonomy.build", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, help="folder with the Census naics_2022_codes.csv and naics_2022_index.csv")
    args = parser.parse_args(argv)
    if args.source:
        copy_sources(args.source)
    build_vectors()
    return 0


if __name__ == "__main__":
    sys.exit(main())
