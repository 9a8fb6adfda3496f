"""Table datasets: every drop reason, leak-free domain split, determinism, balancing, multi-label, CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_helpers import table_rows, words

from siteclass.cli import run
from siteclass.data import load_labels, read_split
from siteclass.data.build import build_dataset

SPLITS = ("train", "val", "test")


def _all_rows(ds: Path) -> dict[str, list[dict]]:
    return {s: pq.read_table(ds / f"{s}.parquet").to_pylist() for s in SPLITS}


def test_every_drop_reason_is_counted(make_table, tmp_path: Path) -> None:
    rows = table_rows({"Food": 30, "Energy": 30, "Tiny": 2})
    base = words(9999, 40)
    rows += [
        {"name": "NoLabel", "website": "https://nolabel.com", "description": words(5001), "label": ""},
        {"name": "NullLabel", "website": "https://nulllabel.com", "description": words(5002), "label": None},
        {"name": "NoText", "website": "https://notext.com", "description": "   ", "label": "Food"},
        {"name": "Short", "website": "https://short.com", "description": "tiny text", "label": "Food"},
        {"name": "Orig", "website": "https://orig.com", "description": base, "label": "Energy"},
        {"name": "Copy", "website": "https://copy.org", "description": base + " extra", "label": "Food"},
    ]
    res = build_dataset(table=make_table(rows), text="description", label="label", out=tmp_path / "ds",
                        min_per_class=5)
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    d = stats["drops"]
    assert d["no_label"] == 2 and d["no_text"] == 1 and d["too_short"] == 1 and d["near_duplicate"] == 1
    assert d["class_too_small"] == 2 and stats["dropped_classes"] == {"Tiny": 2}
    assert stats["rows_in"] == len(rows)
    assert stats["rows_in"] - stats["rows_dropped"] == stats["rows_out"] == sum(res.counts.values())
    names = {r["name"] for split in _all_rows(tmp_path / "ds").values() for r in split}
    assert "Orig" in names and "Copy" not in names and "Short" not in names
    assert load_labels(tmp_path / "ds") == ["Energy", "Food"] == res.labels
    assert (tmp_path / "ds" / "class_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert "[dataset]" in (tmp_path / "ds" / "settings.toml").read_text()


def test_split_is_leak_free_stratified_shuffled_and_stable(make_table, tmp_path: Path) -> None:
    rows = table_rows({"A": 200, "B": 200, "C": 100})
    # several rows per domain: they must stay together
    rows += [{"name": f"Branch {i}", "website": f"https://shop.company{i}.com/b", "description": words(7000 + i),
              "label": "A"} for i in range(0, 60)]
    ds = tmp_path / "ds"
    build_dataset(table=make_table(rows), text="name,description", label="label", out=ds)
    out = _all_rows(ds)
    side = {}
    for split, rs in out.items():
        for r in rs:
            assert side.setdefault(r["domain"], split) == split, f"{r['domain']} on two sides"
    for label in ("A", "B", "C"):
        n = {s: sum(r["label"] == label for r in out[s]) for s in SPLITS}
        assert abs(n["train"] / sum(n.values()) - 0.6) < 0.12, (label, n)
        assert n["val"] > 0 and n["test"] > 0
    changes = sum(a["label"] != b["label"] for a, b in zip(out["train"], out["train"][1:]))
    assert changes > len(out["train"]) / 3, "train file is not shuffled"
    # other rows change, every remaining site keeps its side
    more = table_rows({"A": 50, "D": 80}, start=5000) + rows[::2]
    build_dataset(table=make_table(more, "more.parquet"), text="name,description", label="label", out=tmp_path / "ds2")
    for split, rs in _all_rows(tmp_path / "ds2").items():
        for r in rs:
            if r["domain"] in side:
                assert side[r["domain"]] == split


def test_byte_identical_outputs(make_table, tmp_path: Path) -> None:
    rows = table_rows({"A": 40, "B": 25})
    table = make_table(rows)
    for name in ("one", "two"):
        assert run(["dataset", "build", "--table", str(table), "--text", "name,description", "--label", "label",
                    "--out", str(tmp_path / name), "--fasttext", "--balance", "upsample", "-q"]) == 0
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert {"train.parquet", "val.parquet", "test.parquet", "labels.json", "stats.json", "train.txt",
            "class_distribution.png", "settings.toml"} <= set(files)
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    line = (tmp_path / "one" / "train.txt").read_text().splitlines()[0]
    assert line.startswith("__label__")


def test_identical_outputs_across_processes(make_table, tmp_path: Path) -> None:
    """Two builds in fresh interpreters (different string-hash seeds) write the same bytes, near-duplicate
    decisions included: the word hash is a fixed function, not a library's or the process's."""
    rows = table_rows({"A": 40, "B": 25})
    rows += [{**r, "website": f"https://bis{i}.com", "description": r["description"] + " Café — Straße"}
             for i, r in enumerate(rows[:10])]
    table = make_table(rows)
    for name, seed in (("one", "1"), ("two", "2")):
        proc = subprocess.run(
            [sys.executable, "-m", "siteclass", "dataset", "build", "--table", str(table), "--text",
             "name,description", "--label", "label", "--out", str(tmp_path / name), "-q"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "one" / "stats.json").read_text())
    assert stats["drops"]["near_duplicate"] >= 5  # MinHash estimates: most of the 10 copies
    for f in sorted(p.name for p in (tmp_path / "one").iterdir()):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f


def test_balancing_modes(make_table, tmp_path: Path) -> None:
    rows = table_rows({"Big": 150, "Small": 30})
    table = make_table(rows)
    down = build_dataset(table=table, text="description", label="label", out=tmp_path / "d", balance="downsample")
    c = down.stats["class_counts"]["train"]
    assert c["Big"] == c["Small"] and down.stats["drops"]["downsampled"] > 0
    assert down.stats["class_counts"]["test"]["Big"] > down.stats["class_counts"]["test"]["Small"]
    up = build_dataset(table=table, text="description", label="label", out=tmp_path / "u", balance="upsample")
    c = up.stats["class_counts"]["train"]
    assert c["Big"] == c["Small"] and up.stats["rows_added_by_upsampling"] > 0
    w = build_dataset(table=table, text="description", label="label", out=tmp_path / "w", balance="weights")
    train = read_split(tmp_path / "w", "train")
    assert train.weights is not None
    by = dict(zip(train.labels, train.weights.tolist()))
    assert by["Small"] > 1.0 > by["Big"]
    assert abs(train.weights.sum() - len(train)) < 1e-4 * len(train)
    assert w.counts["train"] == len(train)


def test_multi_label_list_column(make_table, tmp_path: Path) -> None:
    rows = [{"name": f"C{i}", "domain": f"c{i}.io", "text": words(i), "groups": g}
            for i, g in enumerate([["Software", "Health"], ["Software"], ["Energy"], [], ["Health"]] * 20)]
    res = build_dataset(table=make_table(rows), text="text", label="groups", out=tmp_path / "ds", fasttext_files=True)
    assert res.multi_label and res.labels == ["Energy", "Health", "Software"]
    assert res.stats["drops"]["no_label"] == 20
    labels = read_split(tmp_path / "ds", "train").labels
    assert all(isinstance(v, list) and v for v in labels)
    assert any(len(v) == 2 for v in labels)
    lines = (tmp_path / "ds" / "train.txt").read_text().splitlines()
    assert any(line.startswith("__label__Software __label__Health ") for line in lines)


def test_pure_test_split(make_table, tmp_path: Path) -> None:
    res = build_dataset(table=make_table(table_rows({"A": 20, "B": 20})), text="description", label="label",
                        out=tmp_path / "ds", split=(0, 0, 1))
    assert res.counts == {"train": 0, "val": 0, "test": 40}
    assert len(read_split(tmp_path / "ds", "train", allow_empty=True)) == 0


def test_bad_inputs_exit_2_naming_file_or_column(make_table, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table = make_table(table_rows({"A": 5}))
    out = str(tmp_path / "ds")
    cases = [
        (["--table", str(tmp_path / "missing.csv"), "--text", "description", "--label", "label"], "missing.csv"),
        (["--table", str(table), "--text", "descr", "--label", "label"], "'descr' not found"),
        (["--table", str(table), "--text", "description", "--label", "industry"], "'industry' not found"),
        (["--table", str(table), "--text", "description", "--label", "label", "--split", "1,2"], "--split"),
        (["--table", str(table), "--label", "label"], "--text"),
        (["--crawl", str(tmp_path / "nocrawl"), "--labels", str(table)], "nocrawl"),
    ]
    (tmp_path / "empty.csv").write_text("description,label\n", encoding="utf-8")
    cases.append((["--table", str(tmp_path / "empty.csv"), "--text", "description", "--label", "label"], "empty.csv"))
    for args, needle in cases:
        code = run(["dataset", "build", *args, "--out", out, "-q"])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert "error:" in err and needle in err, (needle, err)
