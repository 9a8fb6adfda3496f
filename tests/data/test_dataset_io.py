"""Table I/O: formats, deterministic Parquet, clear errors naming the file or column."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from siteclass.data.io import iter_batches, read_table, write_parquet
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
