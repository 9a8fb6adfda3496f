"""Dataset build throughput and memory: rows/s and peak RSS of ``build_dataset`` on a generated 1M-row table,
beside the 37K-row shared crunchbase table measured in the same run (the anchor).

    python -m bench dataset [--rows 1000000] [--skip-shared]

The generated table (name, website, description of ~40 words, label of 40 classes; 5% without a label, 2%
near-duplicates, 10% of the rows sharing a domain with another row) is written in chunks to a temporary
folder, never into the repository. Each build runs in its own child process, which reports its wall time and
its own peak RSS (``getrusage``), so the figures are those of the build alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parent / "out"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "crunchbase" / "companies.parquet"
CHUNK = 100_000


def generate(path: Path, rows: int, seed: int = 0) -> Path:
    """Write a labeled table of *rows* rows in chunks (bounded memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    syll = ["ka", "lo", "mi", "ser", "vin", "dra", "ten", "por", "lu", "ba", "ric", "mon", "tal", "es", "ver", "na"]
    vocab = np.array([a + b + c for a in syll for b in syll for c in syll])  # 4096 words
    classes = [f"Industry {i:02d}" for i in range(40)]
    writer = None
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        cls = rng.integers(0, 40, n)
        idx = rng.integers(0, len(vocab), (n, 40))
        idx[:, :5] = (cls[:, None] * 97 + np.arange(5)) % len(vocab)  # class words
        texts = [" ".join(vocab[r]) for r in idx]
        dup = rng.random(n) < 0.02
        for i in np.flatnonzero(dup[1:]) + 1:
            texts[i] = texts[i - 1] + " again"
        ids = np.arange(start, start + n)
        dom = np.where(rng.random(n) < 0.1, ids // 2, ids)
        labels = [("" if u < 0.05 else classes[c]) for u, c in zip(rng.random(n), cls)]
        table = pa.table({
            "name": [f"Company {i}" for i in ids],
            "website": [f"https://www.company{d}.com/" for d in dom],
            "description": texts,
            "label": labels,
        })
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


def child(table: str, text: str, label: str, out: str) -> None:
    from siteclass.data.build import build_dataset

    t0 = time.perf_counter()
    res = build_dataset(table=table, text=text, label=label, out=out)
    secs = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows_in": res.stats["rows_in"], "rows_out": res.stats["rows_out"], "seconds": secs,
                      "rows_per_s": res.stats["rows_in"] / secs, "peak_rss_mb": peak_kb / 1024,
                      "drops": {k: v for k, v in res.stats["drops"].items() if v}}))


def measure(table: Path, text: str, label: str, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(table), text, label, str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"build failed on {table}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["input_mb"] = table.stat().st_size / 2**20
    return result


def _line(name: str, r: dict[str, Any]) -> str:
    return (f"{name:<24} {r['rows_in']:>9,} rows  {r['seconds']:7.1f} s  {r['rows_per_s']:9,.0f} rows/s  "
            f"peak RSS {r['peak_rss_mb']:6.0f} MB  (input {r['input_mb']:.0f} MB Parquet)")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        child(*args[1:5])
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench dataset", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-shared", action="store_true", help="skip the crunchbase anchor")
    ns = ap.parse_args(args)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="siteclass-bench-dataset-") as tmp:
        if not ns.skip_shared:
            if SHARED.is_file():
                result["crunchbase"] = measure(SHARED, "name,description,full_description",
                                               "industry_group_single", Path(tmp) / "ds-crunchbase")
                print(_line("crunchbase (anchor)", result["crunchbase"]))
            else:
                print(f"anchor skipped: {SHARED} not found")
        t0 = time.perf_counter()
        table = generate(Path(tmp) / "generated.parquet", ns.rows)
        print(f"generated {ns.rows:,} rows in {time.perf_counter() - t0:.0f} s")
        result["generated"] = measure(table, "name,description", "label", Path(tmp) / "ds-generated")
        print(_line("generated", result["generated"]))
    OUT.mkdir(exist_ok=True)
    (OUT / "dataset.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
