"""Table I/O: formats, deterministic Parquet, clear errors naming the file or column; read_split, the one reader
of labelled rows (every input kind, every error)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from siteclass.data.io import Split, iter_batches, read_split, read_table, write_parquet
from siteclass.errors import InputError


def test_reads_csv_parquet_jsonl_alike(tmp_path: Path) -> None:
    rows = [{"name": "A", "text": "hello there", "tags": "x"}, {"name": "B", "text": "second, row", "tags": ""}]
    (tmp_path / "t.csv").write_text('name,text,tags\nA,hello there,x\nB,"second, row",\n', encoding="utf-8")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    write_parquet(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    for name in ("t.csv", "t.jsonl", "t.parquet"):
        table = read_table(tmp_path / name, ["name", "text"])
        assert table.column_names == ["name", "text"]
        assert table.column("text").to_pylist() == ["hello there", "second, row"], name


def test_streams_in_batches(tmp_path: Path) -> None:
    write_parquet(pa.table({"a": list(range(1000))}), tmp_path / "t.parquet")
    batches = list(iter_batches(tmp_path / "t.parquet", batch_rows=300))
    assert [b.num_rows for b in batches] == [300, 300, 300, 100]


def test_write_parquet_is_byte_identical(tmp_path: Path) -> None:
    t = pa.table({"a": ["x", "y"], "b": [1, 2]})
    write_parquet(t, tmp_path / "1.parquet")
    write_parquet(t, tmp_path / "2.parquet")
    assert (tmp_path / "1.parquet").read_bytes() == (tmp_path / "2.parquet").read_bytes()


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.parquet"):
        read_table(tmp_path / "nope.parquet")


def test_missing_column_names_it_and_lists_present(tmp_path: Path) -> None:
    write_parquet(pa.table({"name": ["a"], "text": ["b"]}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"'label' not found in .*t\.parquet; columns present: name, text"):
        read_table(tmp_path / "t.parquet", ["text", "label"])


def test_empty_and_corrupt_tables(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("name,text\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.csv has no rows"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet at all")
    with pytest.raises(InputError, match=r"bad\.parquet"):
        read_table(tmp_path / "bad.parquet")
    (tmp_path / "t.xlsx").write_bytes(b"x")
    with pytest.raises(InputError, match="unknown table format"):
        read_table(tmp_path / "t.xlsx")


# ------------------------------------------------------------------------------------------ read_split
ROWS = [
    {"id": "1", "name": "Acme", "text": "we fix pipes", "label": "Plumbing", "weight": 2.0},
    {"id": "2", "name": "Bake", "text": "bread, cakes", "label": "Food", "weight": None},
    {"id": "3", "name": "", "text": "NA", "label": "", "weight": 0.5},
]
RECORDS = [{k: v for k, v in r.items() if k not in ("label", "weight")} for r in ROWS]
LABELS = ["Plumbing", "Food", ""]


def _dataset(folder: Path, rows: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        write_parquet(pa.Table.from_pylist(rows if rows is not None else ROWS), folder / f"{split}.parquet")
    return folder


def test_read_split_of_a_dataset_folder(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "ds")
    split = read_split(ds, "train")
    assert isinstance(split, Split) and len(split) == 3
    assert split.records == RECORDS and split.labels == LABELS
    assert split.weights is not None and split.weights.dtype == np.float32
    assert split.weights.tolist() == [2.0, 1.0, 0.5]  # a row without a weight counts 1
    assert split.source == str(ds / "train.parquet")
    assert read_split(str(ds)).source == str(ds / "test.parquet")  # the test split by default


def test_read_split_multi_label_and_no_weight(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": ["X", "Y"], "pages": [{"url": "u", "title": "t", "text": "p"}]},
            {"text": "b", "label": [], "pages": []}, {"text": "c", "label": None, "pages": None}]
    write_parquet(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    split = read_split(tmp_path / "m.parquet")
    assert split.labels == [["X", "Y"], [], ""] and split.weights is None
    assert split.records[0] == {"text": "a", "pages": [{"url": "u", "title": "t", "text": "p"}]}


def test_read_split_of_csv_keeps_every_cell_as_text(tmp_path: Path) -> None:
    """As pandas' dtype=str, keep_default_na=False: no numbers, no missing values, "" stays ""."""
    (tmp_path / "t.csv").write_text('id,name,text,label,weight\n1,Acme,we fix pipes,Plumbing,2\n'
                                    '2,Bake,"bread, cakes",Food,\n3,,NA,,0.5\n', encoding="utf-8")
    split = read_split(tmp_path / "t.csv")
    assert split.records == RECORDS and split.labels == LABELS
    assert split.weights is not None and split.weights.tolist() == [2.0, 1.0, 0.5]
    (tmp_path / "t.tsv").write_text("id\tlabel\n007\tnull\n", encoding="utf-8")
    assert read_split(tmp_path / "t.tsv").records == [{"id": "007"}]
    assert read_split(tmp_path / "t.tsv").labels == ["null"]


def test_read_split_of_jsonl_and_json_array(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    (tmp_path / "t.json").write_text(json.dumps(ROWS, indent=1), encoding="utf-8")
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    for name in ("t.jsonl", "t.json", "lines.json"):
        split = read_split(tmp_path / name)
        assert split.records == RECORDS and split.labels == LABELS, name
        assert split.weights is not None and split.weights.tolist() == [2.0, 1.0, 0.5], name


def test_read_split_of_in_memory_tables() -> None:
    import pandas as pd
    import polars as pl

    arrow = pa.Table.from_pylist(ROWS)
    for data in (ROWS, arrow, arrow.to_batches()[0], pd.DataFrame(ROWS), pl.DataFrame(ROWS)):
        split = read_split(data)
        assert split.labels == LABELS and split.source == "the data table", type(data)
        assert [r["text"] for r in split.records] == ["we fix pipes", "bread, cakes", "NA"], type(data)
        assert all("label" not in r and "weight" not in r for r in split.records)
        assert split.weights is not None and split.weights.tolist() == [2.0, 1.0, 0.5], type(data)
    assert ROWS[0]["label"] == "Plumbing"  # the caller's dicts are not changed
    multi = pd.DataFrame({"text": ["a", "b"], "label": [np.array(["X", "Y"]), None]})
    assert read_split(multi).labels == [["X", "Y"], ""]


def test_read_split_empty_splits(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "ds", [])
    write_parquet(pa.Table.from_pylist(ROWS).schema.empty_table(), ds / "val.parquet")
    assert len(read_split(ds, "val", allow_empty=True)) == 0
    with pytest.raises(InputError, match=r"val\.parquet has no rows"):
        read_split(ds, "val")
    with pytest.raises(InputError, match="the data table has no rows"):
        read_split([])


@pytest.mark.parametrize(("make", "match"), [
    (lambda p: p / "missing", r"dataset folder .*missing does not exist"),
    (lambda p: p / "missing.csv", r"data file .*missing\.csv does not exist"),
    (lambda p: _dataset(p / "ds").joinpath("extra").mkdir() or p / "ds" / "extra",
     r"extra[/\\]test\.parquet not found; .*extra is not a dataset folder with a test split"),
    (lambda p: (p / "t.xlsx").write_bytes(b"x") and p / "t.xlsx", r"t\.xlsx has an unknown format"),
    (lambda p: (p / "bad.parquet").write_bytes(b"not parquet") and p / "bad.parquet",
     r"cannot read .*bad\.parquet as Parquet"),
    (lambda p: (p / "bad.json").write_text("[1, 2]") and p / "bad.json", r"bad\.json: item 0 is a int"),
    (lambda p: (p / "bad.jsonl").write_text('{"a": 1\n') and p / "bad.jsonl", r"bad\.jsonl"),
    (lambda p: (p / "nolabel.csv").write_text("text\nhello\n") and p / "nolabel.csv",
     r"nolabel\.csv has no 'label' column \(columns: text\)"),
    (lambda p: (p / "w.csv").write_text("text,label,weight\na,X,heavy\n") and p / "w.csv",
     r"row 0 of .*w\.csv has weight 'heavy', not a number"),
])
def test_read_split_file_errors_name_the_input(tmp_path: Path, make, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_split(make(tmp_path))


def test_read_split_other_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown split 'dev'; use one of train, val, test"):
        read_split(_dataset(tmp_path / "ds"), "dev")
    with pytest.raises(InputError, match=r"row 1 of the data table has no 'label' \(keys: text\)"):
        read_split([{"text": "a", "label": "X"}, {"text": "b"}])
    with pytest.raises(InputError, match="the data table has no 'label' column"):
        read_split(pa.table({"text": ["a"]}))
    with pytest.raises(InputError, match="cannot read data of type int"):
        read_split(5)
