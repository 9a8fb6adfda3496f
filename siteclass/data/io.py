"""Table I/O: read CSV / Parquet / JSONL (local paths or fsspec URLs) whole or in Arrow batches, and write
Parquet deterministically. Also the readers training and evaluation use on a built dataset folder.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from siteclass.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

BATCH_ROWS = 16_384
ROW_GROUP_ROWS = 65_536
SPLITS = ("train", "val", "test")
_FORMATS = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def table_format(path: str | Path) -> str:
    """'parquet', 'csv' or 'jsonl' from the file name (a folder is read as a Parquet dataset)."""
    name = str(path).lower()
    for comp in (".gz", ".bz2", ".zst", ".xz"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    if not _is_url(str(path)) and Path(path).is_dir():
        return "parquet"
    for suffix, fmt in _FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise InputError(f"{path}: unknown table format; use a .csv, .parquet or .jsonl file")


def _check_exists(path: str | Path) -> None:
    p = str(path)
    if _is_url(p):
        import fsspec

        try:
            fs, fs_path = fsspec.core.url_to_fs(p)
            ok = fs.exists(fs_path)
        except Exception as exc:  # any backend error is a user-facing 'cannot open'
            raise InputError(f"cannot open {p}: {exc}") from exc
        if not ok:
            raise InputError(f"{p} does not exist; check the URL")
    elif not Path(p).exists():
        raise InputError(f"{p} does not exist; check the path")


def _open_binary(path: str | Path) -> Any:
    p = str(path)
    if _is_url(p):
        import fsspec

        return fsspec.open(p, "rb", compression="infer").open()
    return pa.input_stream(p, compression="detect")


def _parquet_file(path: str | Path) -> Any:
    p = str(path)
    if not _is_url(p) and Path(p).is_dir():
        import pyarrow.dataset as ds

        return ds.dataset(p, format="parquet")
    return pq.ParquetFile(_open_binary(p) if _is_url(p) else p)


def table_columns(path: str | Path) -> list[str]:
    """Column names of a table without reading its rows (CSV/JSONL: from the first batch)."""
    _check_exists(path)
    if table_format(path) == "parquet":
        try:
            src = _parquet_file(path)
            schema = src.schema_arrow if isinstance(src, pq.ParquetFile) else src.schema
            return list(schema.names)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read {path} as Parquet: {exc}") from exc
    for batch in iter_batches(path):
        return list(batch.schema.names)
    return []


def check_columns(path: str | Path, present: list[str], wanted: list[str], what: str = "column") -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise InputError(
            f"{what} {', '.join(repr(m) for m in missing)} not found in {path}; "
            f"columns present: {', '.join(present) or '(none)'}"
        )


def _iter_parquet(path: str | Path, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    src = _parquet_file(path)
    if isinstance(src, pq.ParquetFile):
        yield from src.iter_batches(batch_size=batch_rows, columns=columns)
    else:
        yield from src.to_batches(columns=columns, batch_size=batch_rows)


def _iter_csv(path: str | Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    delimiter = "\t" if ".tsv" in str(path).lower() else ","
    reader = pcsv.open_csv(
        _open_binary(path),
        read_options=pcsv.ReadOptions(block_size=1 << 22),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(strings_can_be_null=False),
    )
    for batch in reader:
        yield from pa.Table.from_batches([batch]).to_batches(max_chunksize=batch_rows)


def _iter_jsonl(path: str | Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pjson

    raw = _open_binary(path)
    with raw if _is_url(str(path)) else io.BufferedReader(raw, buffer_size=1 << 20) as reader:  # type: ignore[arg-type]
        lines: list[bytes] = []
        while True:
            line = reader.readline()
            if line.strip():
                lines.append(line if line.endswith(b"\n") else line + b"\n")
            if len(lines) >= batch_rows or (not line and lines):
                yield from pjson.read_json(io.BytesIO(b"".join(lines))).to_batches()
                lines = []
            if not line:
                break


def iter_batches(
    path: str | Path, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Stream a table as Arrow record batches; errors name the file (and the missing column)."""
    _check_exists(path)
    fmt = table_format(path)
    if columns is not None and fmt == "parquet":
        check_columns(path, table_columns(path), columns)
    try:
        if fmt == "parquet":
            it: Iterator[pa.RecordBatch] = _iter_parquet(path, columns, batch_rows)
        elif fmt == "csv":
            it = _iter_csv(path, batch_rows)
        else:
            it = _iter_jsonl(path, batch_rows)
        for batch in it:
            if columns is not None and fmt != "parquet":
                check_columns(path, batch.schema.names, columns)
                batch = batch.select(columns)
            yield batch
    except InputError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as {fmt.upper()}: {exc}") from exc


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Read a whole CSV / Parquet / JSONL table; InputError when missing, unreadable, lacking a column, empty."""
    batches = list(iter_batches(path, columns))
    if not batches:
        raise InputError(f"{path} has no rows; pass a table with a header and at least one row")
    table = pa.Table.from_batches(batches) if len({b.schema for b in batches}) == 1 else pa.concat_tables(
        [pa.Table.from_batches([b]) for b in batches], promote_options="permissive"
    )
    if table.num_rows == 0:
        raise InputError(f"{path} has no rows; pass a table with at least one row")
    return table


def write_parquet(table: pa.Table, path: str | Path) -> Path:
    """Write *table* as Parquet, byte-identical for identical input (no pandas/timestamp metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd",
                   row_group_size=ROW_GROUP_ROWS, write_statistics=True)
    return path


class ParquetSink:
    """Deterministic streaming Parquet writer: fixed schema, zstd, no metadata; writes an empty file if unused."""

    def __init__(self, path: str | Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.schema = schema.remove_metadata()
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(table.cast(self.schema), row_group_size=ROW_GROUP_ROWS)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:
            write_parquet(self.schema.empty_table(), self.path)
        else:
            self._writer.close()


# ------------------------------------------------------------------------------------ built dataset readers
def load_labels(ds_dir: str | Path) -> list[str]:
    """The ordered label list of a built dataset (``DS/labels.json``)."""
    path = Path(ds_dir) / "labels.json"
    if not path.is_file():
        raise InputError(f"{path} not found; build the dataset first with `siteclass dataset build`")
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["labels"] if isinstance(data, dict) else data)


def load_split(ds_dir: str | Path, split: str) -> pd.DataFrame:
    """One split of a built dataset as a DataFrame; list columns (multi-label ``label``, ``pages``) as lists."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    path = Path(ds_dir) / f"{split}.parquet"
    if not path.is_file():
        raise InputError(f"{path} not found; build the dataset first with `siteclass dataset build`")
    table = pq.read_table(path)
    df = table.drop_columns([c for c in ("label", "pages") if c in table.column_names]).to_pandas()
    for col in ("label", "pages"):
        if col in table.column_names:
            df[col] = table.column(col).to_pylist()
    return df[table.column_names]
