"""Table I/O: read CSV / Parquet / JSONL (local paths or fsspec URLs) whole or in Arrow batches, and write
Parquet deterministically. Also the readers of a built dataset folder: ``load_labels`` and ``read_split``, the
one reader of labelled rows that training, tuning and evaluation use (a dataset split, a table file or an
in-memory table).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from siteclass.charsets import encoding_hint, resolve_encoding
from siteclass.errors import InputError

BATCH_ROWS = 16_384
SAMPLE_BYTES = 1 << 20
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


def table_columns(path: str | Path, encoding: str | None = None) -> list[str]:
    """Column names of a table without reading its rows (CSV: its header; JSONL: from the first batch)."""
    _check_exists(path)
    fmt = table_format(path)
    if fmt == "parquet":
        try:
            src = _parquet_file(path)
            schema = src.schema_arrow if isinstance(src, pq.ParquetFile) else src.schema
            return list(schema.names)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read {path} as Parquet: {exc}") from exc
    if fmt == "csv":
        try:
            return list(_csv_reader(path, encoding).schema.names)
        except InputError:
            raise
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _csv_error(path, exc) from exc
    for batch in iter_batches(path, encoding=encoding):
        return list(batch.schema.names)
    return []


def csv_encoding(path: str | Path, encoding: str | None = None) -> str:
    """The encoding a CSV file is read with (:func:`siteclass.charsets.resolve_encoding` on its first bytes)."""
    with _open_binary(path) as fh:
        sample = fh.read(SAMPLE_BYTES)
    return resolve_encoding(bytes(sample), str(path), encoding)


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding == "utf-8" else encoding


def _csv_error(path: str | Path, exc: BaseException) -> InputError:
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in text or "codec can't decode" in text:
        used = "UTF-8" if "UTF8" in text else "the chosen encoding's"
        return InputError(f"cannot read {path} as CSV: {encoding_hint(str(path), used)}")
    return InputError(f"cannot read {path} as CSV: {exc}")


def has_rows(path: str | Path, encoding: str | None = None) -> bool:
    """Whether a table has at least one row (a header-only CSV has none)."""
    return any(batch.num_rows for batch in iter_batches(path, encoding=encoding))


def no_rows_error(path: str | Path, columns: list[str]) -> InputError:
    head = f" (only a header: {', '.join(columns)})" if columns else ""
    return InputError(f"{path} has no rows{head}; pass a table with a header and at least one row")


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


def _csv_reader(path: str | Path, encoding: str | None, as_text: bool = False) -> Any:
    """Arrow's streaming CSV reader in the file's encoding; *as_text*: every column a string (no type inference)."""
    import csv

    import pyarrow.csv as pcsv

    delimiter = "\t" if ".tsv" in str(path).lower() else ","
    used = csv_encoding(path, encoding)
    types: dict[str, pa.DataType] = {}
    if as_text:
        with _open_binary(path) as fh:
            head = bytes(fh.read(1 << 20)).decode("utf-8-sig" if used == "utf-8" else used, errors="replace")
        types = dict.fromkeys(next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), []), pa.string())
    return pcsv.open_csv(
        _open_binary(path),
        read_options=pcsv.ReadOptions(block_size=1 << 22, encoding=_arrow_encoding(used)),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False),
    )


def _iter_csv(path: str | Path, batch_rows: int, encoding: str | None, as_text: bool = False
              ) -> Iterator[pa.RecordBatch]:
    reader = _csv_reader(path, encoding, as_text)
    for batch in reader:
        binary = [f.name for f in batch.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        if binary:  # arrow keeps undecodable cells as bytes: that would be mojibake downstream
            raise InputError(f"cannot read column {binary[0]!r} of {path} as text: "
                             f"{encoding_hint(str(path), 'UTF-8')}")
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
    path: str | Path, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS, encoding: str | None = None,
    *, csv_as_text: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Stream a table as Arrow record batches; errors name the file (and the missing column). *encoding*: of a
    CSV (None: the one of :func:`siteclass.charsets.use_encoding`, by default detected); *csv_as_text*: every CSV
    column a string (no type inference: ``007`` stays ``007``)."""
    _check_exists(path)
    fmt = table_format(path)
    if columns is not None and fmt == "parquet":
        check_columns(path, table_columns(path), columns)
    try:
        if fmt == "parquet":
            it: Iterator[pa.RecordBatch] = _iter_parquet(path, columns, batch_rows)
        elif fmt == "csv":
            it = _iter_csv(path, batch_rows, encoding, csv_as_text)
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
        if fmt == "csv":
            raise _csv_error(path, exc) from exc
        raise InputError(f"cannot read {path} as {fmt.upper()}: {exc}") from exc


def read_table(path: str | Path, columns: list[str] | None = None, encoding: str | None = None) -> pa.Table:
    """Read a whole CSV / Parquet / JSONL table; InputError when missing, unreadable, lacking a column, empty."""
    batches = list(iter_batches(path, columns, encoding=encoding))
    if not batches:
        raise no_rows_error(path, table_columns(path, encoding) if table_format(path) == "csv" else [])
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


@dataclass
class Split:
    """Labelled rows, as the training, tuning and evaluation stages take them.

    ``records``: one dict per row without ``label`` and ``weight``; ``labels``: one per row, a string (multi-class)
    or a list of strings (multi-label), ``""`` where the row has none; ``weights``: ``float32`` row weights (1.0
    where a row has none) when the table has a ``weight`` column with a value, else None; ``source``: what was
    read, for messages (the file, or "the data table").
    """

    records: list[dict[str, Any]]
    labels: list[str | list[str]]
    weights: np.ndarray | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.records)


SPLIT_SUFFIXES = (".parquet", ".csv", ".tsv", ".jsonl", ".ndjson", ".json")


def read_split(data: Any, split: str = "test", *, allow_empty: bool = False, encoding: str | None = None) -> Split:
    """The one reader of labelled rows: *data* is a dataset folder (its ``<split>.parquet``), a .parquet, .csv,
    .tsv, .jsonl/.ndjson or .json file (a local path or an fsspec URL), a pandas/polars DataFrame, an Arrow table
    or record batch, or a list of dicts. Every row needs a ``label``; a ``weight`` column becomes
    :attr:`Split.weights`.

    CSV/TSV cells are read as text, as written: every column is a string and an empty cell is ``""`` (never a
    missing value). JSON values keep their JSON types; a ``.json`` file holds an array of objects or one object
    per line. Labels are normalised: Arrow/numpy lists become lists of strings, a missing label (None, NaN)
    becomes ``""``, anything else its ``str``.

    Raises :class:`~siteclass.errors.InputError` naming the input: a folder or file that does not exist, a
    folder without that split, an unknown split or file format, an unreadable file, a row without ``label``, a
    weight that is not a number, and no rows at all unless *allow_empty*.
    """
    columns: list[str] | None
    if isinstance(data, str | Path):
        rows, columns, source = _read_split_file(data, split, encoding)
    else:
        rows, columns, source = _read_split_object(data)
    if columns is not None and "label" not in columns:
        raise InputError(f"{source} has no 'label' column (columns: {', '.join(columns) or '(none)'}); "
                         "use a dataset split from `siteclass dataset build` or add a label column")
    if not rows and not allow_empty:
        raise InputError(f"{source} has no rows; pass labelled rows, such as a split of `siteclass dataset build`")
    labels: list[str | list[str]] = []
    weights: list[Any] = []
    for i, record in enumerate(rows):  # rows are this call's own dicts: label and weight are popped in place
        if "label" not in record:
            raise InputError(f"row {i} of {source} has no 'label' (keys: {', '.join(map(str, record)) or '(none)'}); "
                             "every row needs a label")
        labels.append(label_of(record.pop("label")))
        weights.append(record.pop("weight", None))
    return Split(rows, labels, _weights(weights, source), source)


def label_of(value: Any) -> str | list[str]:
    """A label as :func:`read_split` normalises it: a string, or a list of strings (multi-label)."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "tolist"):  # numpy array or scalar
        value = value.tolist()
    elif hasattr(value, "as_py"):  # Arrow scalar
        value = value.as_py()
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return "" if value is None else str(value)


def _weights(values: list[Any], source: str) -> np.ndarray | None:
    if all(v is None for v in values):
        return None
    out = np.ones(len(values), dtype=np.float32)
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise InputError(f"row {i} of {source} has weight {v!r}, not a number; "
                             "a weight column must hold numbers") from None
    out[np.isnan(out)] = 1.0
    return out


def _read_split_file(
    data: str | Path, split: str, encoding: str | None = None
) -> tuple[list[dict[str, Any]], list[str] | None, str]:
    """(rows, column names when known, source) of a dataset folder's split or of a table file."""
    text = str(data)
    url = _is_url(text)
    path: str | Path = text if url else Path(text)
    name = text.lower()
    for comp in (".gz", ".bz2", ".zst", ".xz"):
        name = name.removesuffix(comp)
    suffix = next((s for s in SPLIT_SUFFIXES if name.endswith(s)), None)
    if not url and Path(text).is_dir():
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        path = Path(text) / f"{split}.parquet"
        if not path.is_file():
            raise InputError(f"{path} not found; {text} is not a dataset folder with a {split} split "
                             "(build one with `siteclass dataset build`)")
        suffix = ".parquet"
    elif not url and not Path(text).exists():
        if suffix is None:
            raise InputError(f"dataset folder {text} does not exist; pass a folder from `siteclass dataset build` "
                             "or a split file such as DS/test.parquet")
        raise InputError(f"data file {text} does not exist; check the path")
    if suffix is None:
        raise InputError(f"data {text} has an unknown format; use a dataset folder or a "
                         f"{', '.join(SPLIT_SUFFIXES)} file")
    if url:
        _check_exists(text)
    fmt = {".parquet": "Parquet", ".csv": "CSV", ".tsv": "CSV"}.get(suffix, "JSON")
    try:
        if suffix == ".parquet":
            table = pq.read_table(_open_binary(path) if url else path)
        elif fmt == "CSV":
            table = _read_csv_as_text(path, "\t" if suffix == ".tsv" else ",", encoding)
        elif not (first := _first_byte(path)):
            return [], None, str(path)  # an empty file
        elif suffix == ".json" and first == b"[":
            return _json_array(path), None, str(path)
        else:
            table = read_table(path)
    except InputError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        if fmt == "CSV":
            raise _csv_error(path, exc) from exc
        raise InputError(f"cannot read {path} as {fmt}: {exc}") from exc
    return table.to_pylist(), table.column_names or None, str(path)


def _read_split_object(data: Any) -> tuple[list[dict[str, Any]], list[str] | None, str]:
    """(rows, column names when known, source) of an in-memory table."""
    from siteclass.models.base import as_records

    source = "the data table"
    columns: list[str] | None = None
    if isinstance(data, pa.Table | pa.RecordBatch):
        columns = list(data.schema.names)
    elif hasattr(data, "columns") and not isinstance(data, list | tuple):  # pandas / polars DataFrame
        columns = [str(c) for c in data.columns]
    try:
        rows = as_records(data)
    except TypeError:
        raise InputError(f"cannot read data of type {type(data).__name__}; pass a dataset folder, a table file, "
                         "a DataFrame, an Arrow table or a list of dicts") from None
    return rows, columns, source


def _first_byte(path: str | Path) -> bytes:
    """The first byte of a text file that is not white space (b"" for an empty file)."""
    with _open_binary(path) as fh:
        while chunk := fh.read(1 << 16):
            stripped = chunk.lstrip()
            if stripped:
                return bytes(stripped[:1])
    return b""


def _json_array(path: str | Path) -> list[dict[str, Any]]:
    with _open_binary(path) as fh:
        items = json.loads(fh.read().decode("utf-8"))
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{path}: item {i} is a {type(item).__name__}, not an object; "
                             "a .json file holds an array of objects (one per row)")
    return list(items)


def _read_csv_as_text(path: str | Path, delimiter: str, encoding: str | None = None) -> pa.Table:
    """A CSV file with every column a string and empty cells as "" (no type inference, no missing values)."""
    import csv

    import pyarrow.csv as pcsv

    enc = csv_encoding(path, encoding)
    with _open_binary(path) as fh:
        head = bytes(fh.read(SAMPLE_BYTES)).decode("utf-8-sig" if enc == "utf-8" else enc, errors="replace")
    header = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), None)
    if not header:
        return pa.table({})
    with _open_binary(path) as fh:
        return pcsv.read_csv(
            fh,
            read_options=pcsv.ReadOptions(block_size=1 << 22, encoding=_arrow_encoding(enc)),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                strings_can_be_null=False),
        )
