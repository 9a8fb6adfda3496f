"""`siteclass labels agree` on 1M generated judgements (300K items × 3–4 labellers): wall time and peak RSS,
beside pandas groupby doing only the majority vote on the same file, measured in the same run (the anchor).

    python -m bench labels [--items 300000] [--format csv|parquet] [--keep DIR]

The judgements have a known truth: 40 labels, 60 labellers in 6 groups (vendors), each labeller right with their
own probability (0.55–0.95) and wrong towards a neighbouring label otherwise, 3 or 4 labellers per item, a
time per judgement that grows with accuracy. Each side runs in its own child process, which reports its wall
time and its own peak RSS (``getrusage``); the file is written to a temporary folder, never into the repository.
Also printed: the consensus accuracy against the truth, and whether the best vendor found is the true best one.
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
LABELS = 40
LABELLERS = 60
GROUPS = 6


def generate(folder: Path, items: int, fmt: str, seed: int = 0) -> tuple[Path, Path, dict[str, Any]]:
    """Write judgements and the truth (item,label); returns their paths and the true labeller accuracies."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, LABELS, items)
    acc = rng.uniform(0.55, 0.95, LABELLERS)
    per_item = rng.choice([3, 4], items)
    item_idx = np.repeat(np.arange(items), per_item)
    # distinct labellers per item: a random offset and stride over the pool
    start = np.repeat(rng.integers(0, LABELLERS, items), per_item)
    stride = np.repeat(rng.choice([1, 7, 11, 13], items), per_item)
    pos = np.arange(len(item_idx)) - np.repeat(np.cumsum(per_item) - per_item, per_item)
    labeller = (start + pos * stride) % LABELLERS
    right = rng.random(len(item_idx)) < acc[labeller]
    wrong = (truth[item_idx] + rng.choice([1, 2, LABELS - 1], len(item_idx))) % LABELS
    label = np.where(right, truth[item_idx], wrong)
    seconds = np.round(rng.gamma(4.0, 4.0 + 20.0 * acc[labeller]), 1)
    names = np.array([f"Industry {i:02d}" for i in range(LABELS)], dtype=object)
    ids = np.array([f"s{i:07d}" for i in range(items)], dtype=object)
    table = pa.table({
        "item": ids[item_idx], "labeller": [f"l{i:02d}" for i in labeller], "label": names[label],
        "seconds": seconds, "group": [f"vendor{i % GROUPS}" for i in labeller],
    })
    path = folder / f"judgements.{fmt}"
    if fmt == "csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    truth_path = folder / "truth.parquet"
    pq.write_table(pa.table({"item": ids, "label": names[truth]}), truth_path)
    group_acc = {f"vendor{g}": float(acc[np.arange(LABELLERS) % GROUPS == g].mean()) for g in range(GROUPS)}
    return path, truth_path, {"judgements": len(item_idx), "group_accuracy": group_acc}


def child_siteclass(path: str, out: str) -> None:
    from siteclass.labels.agree import agree_labels

    t0 = time.perf_counter()
    res = agree_labels(path, out)
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "statuses": res.statuses, "fleiss_kappa": res.agreement["fleiss_kappa"],
                      "krippendorff_alpha": res.agreement["krippendorff_alpha"]}))


def child_pandas(path: str, out: str) -> None:
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_csv(path) if path.endswith(".csv") else pd.read_parquet(path)
    votes = df.groupby(["item", "label"]).size().rename("votes").reset_index()
    top = votes.sort_values(["item", "votes"], ascending=[True, False]).drop_duplicates("item")
    top.to_csv(out, index=False)
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(kind: str, path: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), f"--child-{kind}", str(path), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def check(out: Path, truth: Path, planted: dict[str, Any]) -> dict[str, Any]:
    """Consensus accuracy against the truth, and the best group found against the truly best one."""
    import duckdb

    con = duckdb.connect()
    acc = con.execute(f"""SELECT avg((c.label = t.label)::INTEGER) FROM read_csv('{out / 'consensus.csv'}') c
                          JOIN read_parquet('{truth}') t USING (item)""").fetchone()
    best = con.execute(f"SELECT \"group\" FROM read_csv('{out / 'groups.csv'}') LIMIT 1").fetchone()
    true_best = max(planted["group_accuracy"], key=planted["group_accuracy"].get)
    return {"consensus_accuracy": float(acc[0]) if acc else None, "best_group_by_agreement": best[0] if best else None,
            "true_best_group": true_best}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--child-siteclass"], ["--child-pandas"]):
        (child_siteclass if args[0] == "--child-siteclass" else child_pandas)(args[1], args[2])
        return 0
    ap = argparse.ArgumentParser(prog="python -m bench labels", description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=300_000)
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--keep", type=Path, help="write the generated files and outputs here instead of a temp dir")
    ns = ap.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="siteclass-bench-labels-") as tmp:
        folder = ns.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        path, truth, planted = generate(folder, ns.items, ns.format)
        print(f"generated {planted['judgements']:,} judgements on {ns.items:,} items "
              f"({path.stat().st_size / 2**20:.0f} MB {ns.format}) in {time.perf_counter() - t0:.0f} s")
        anchor = measure("pandas", path, folder / "pandas-majority.csv")
        ours = measure("siteclass", path, folder / "agree")
        quality = check(folder / "agree", truth, planted)
    per_s = planted["judgements"] / ours["seconds"]
    print(f"{'pandas groupby, majority vote only (anchor)':<46} {anchor['seconds']:6.1f} s  "
          f"peak RSS {anchor['peak_rss_mb']:5.0f} MB")
    print(f"{'siteclass labels agree (all outputs)':<46} {ours['seconds']:6.1f} s  peak RSS {ours['peak_rss_mb']:5.0f} MB"
          f"  ({per_s:,.0f} judgements/s; target ≤ 60 s: {'✔' if ours['seconds'] <= 60 else '✘'})")
    print(f"consensus accuracy vs truth {quality['consensus_accuracy']:.4f}; statuses {ours['statuses']}; "
          f"kappa {ours['fleiss_kappa']:.3f}, alpha {ours['krippendorff_alpha']:.3f}; best vendor found "
          f"{quality['best_group_by_agreement']} (truly best {quality['true_best_group']})")
    OUT.mkdir(exist_ok=True)
    (OUT / "labels.json").write_text(json.dumps({"items": ns.items, "format": ns.format, **planted,
                                                 "anchor_pandas": anchor, "siteclass": ours, **quality}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
