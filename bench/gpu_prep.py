"""Prepare #18 part 5 — the transformer fine-tuned on a GPU — as ONE call of the device machine.

    python -m bench.gpu_prep          # writes .gpu/ (git-ignored) and prints the command to run there

The device machine (an H100 or H200 with Python 3.12, torch, transformers, scikit-learn, pyarrow: see the tool
library's device/KINDS.md) reaches no network and receives the working tree plus at most 64 MiB of carried,
git-ignored paths. ``.gpu/`` holds what it lacks:

- ``whl/``: wheels (CPython 3.12, manylinux x86-64) of the packages siteclass imports that its image does not hold
  (pydantic and its own needs, tomli-w), at the versions installed here;
- ``encoder/``: the bundled all-MiniLM-L6-v2 (tokenizer, config) with its weights stored as float16 — 44 MB instead
  of 87, so it fits the transfer; ``load_bert`` loads them into float32 parameters (each weight rounded to float16
  once, far below what fine-tuning moves);
- ``shared/data/crunchbase/companies.parquet``: the single task's rows of the shared table, with the columns
  ``bench quality`` reads (splits hash the domain alone, so they are the bench's; the table is never committed:
  ``.gpu/`` is ignored, and the device machine is given back with it).

The command trains anchors A and B beside the fine-tuned transformer on the single task, seeds 0 and 1, in one
run of ``bench quality``; its JSON and log come back under ``$OUT``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / ".gpu"
LIMIT_MB = 60  # the transfer's limit is 64 MiB, the repository's tracked files included
WHEELS = ("pydantic", "pydantic_core", "annotated-types", "typing-inspection", "typing_extensions", "tomli_w")
COLUMNS = ["name", "domain", "description", "full_description", "industry_groups", "industry_group_single"]
COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
    ".gpu/whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && nvidia-smi -L && "
    "SITECLASS_SHARED=$PWD/.gpu/shared PYTHONUNBUFFERED=1 timeout 540 python3 -m bench quality --tasks single "
    "--models transformer --anchors A,B --finetune --seeds 0,1 --jobs 8 --encoder .gpu/encoder "
    "--out $OUT/quality_finetune.json 2>&1 | tee $OUT/log.txt"
)


def wheels(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "-d", str(folder),
                    *pins], check=True)


def encoder(folder: Path) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from siteclass.models.encoder import BUNDLED_ENCODER, resolve_encoder

    source = resolve_encoder(BUNDLED_ENCODER)
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.name != "model.safetensors":
            shutil.copyfile(path, folder / path.name)
    weights = load_file(str(source / "model.safetensors"))
    save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()},
              str(folder / "model.safetensors"))


def table(path: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from bench.quality import DATA

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = pq.read_table(DATA, columns=COLUMNS)
    single = rows.filter(pc.not_equal(pc.fill_null(rows["industry_group_single"], ""), ""))
    pq.write_table(single, path, compression="zstd")  # the single task's rows: its splits hash the domain alone


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    from bench.quality import DATA

    if not DATA.is_file():
        print(f"error: {DATA} not found; set SITECLASS_SHARED to the shared/ folder", file=sys.stderr)
        return 2
    shutil.rmtree(GPU, ignore_errors=True)
    table(GPU / "shared" / "data" / "crunchbase" / "companies.parquet")
    try:
        wheels(GPU / "whl")
    except subprocess.CalledProcessError:
        print(f"error: pip could not download the wheels {', '.join(WHEELS)} for CPython 3.12 (is the package index "
              "reachable?)", file=sys.stderr)
        return 1
    encoder(GPU / "encoder")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    repo = sum((ROOT / p).stat().st_size for p in tracked.decode().split("\0") if p and (ROOT / p).is_file()) / 1e6
    total = size_mb(GPU) + repo
    print(f".gpu/ {size_mb(GPU):.1f} MB + tracked files {repo:.1f} MB = {total:.1f} MB (limit {LIMIT_MB})")
    if total > LIMIT_MB:
        print("error: too large for one transfer", file=sys.stderr)
        return 1
    print("device run (carry ['.gpu'], timeout_s 600):")
    print(COMMAND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
