"""Inputs of the labels stage, read and checked: judgements, gold labels, and the keys of any labels file.

Every reader goes through ``siteclass.data.io`` (CSV / Parquet / JSONL, local or fsspec URL) and raises
``InputError`` with one sentence naming the file, the row or column, and what to do. Rows are numbered from 1
in file order, header not counted (a CSV's row N is its line N + 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siteclass.data.io import read_table, table_columns, table_format
from siteclass.errors import InputError

JUDGEMENT_COLUMNS = ("item", "labeller", "label")
JUDGEMENT_OPTIONAL = ("seconds", "group")
GOLD_COLUMNS = ("item", "label")
KEY_COLUMNS = ("item", "site_id", "id", "url")


def row_name(path: str | Path, row: int) -> str:
    """``row 4`` (``row 4, line 5`` for a CSV, whose header is line 1)."""
    try:
        csv = table_format(path) == "csv"
    except InputError:
        csv = False
    return f"row {row}, line {row + 1}" if csv else f"row {row}"


def columns_of(path: str | Path, wanted: Sequence[str], what: str) -> list[str]:
    """The columns of *path*; InputError naming the first of *wanted* that is missing, or an empty file."""
    local = Path(path) if "://" not in str(path) else None
    if local is not None and local.is_file() and local.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); pass {what} with a header ({', '.join(wanted)}) and at least "
                         f"one row")
    present = table_columns(path)
    if not present:  # a CSV or JSONL with a header only, or blank lines
        raise InputError(f"{path} has no rows; pass {what} with a header ({', '.join(wanted)}) and at least one row")
    for col in wanted:
        if col not in present:
            raise InputError(f"{path} has no column {col!r}; {what} needs the columns {', '.join(wanted)} "
                             f"(columns present: {', '.join(present)})")
    return present


def read_rows(path: str | Path, columns: list[str], what: str) -> pa.Table:
    """The *columns* of *path* (non-empty) as a table; a header-only file is an error naming *what* it lacks."""
    try:
        table = read_table(path, columns=columns)
    except InputError as exc:
        if "has no rows" in str(exc):
            raise InputError(f"{path} has no rows; pass {what} with at least one row") from exc
        raise
    return table


def text_column(table: pa.Table, name: str, path: str | Path, *, required: bool = True) -> pa.Array:
    """Column *name* as trimmed strings; with *required*, an empty or null value is an error naming its row."""
    col = table.column(name).combine_chunks()
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        try:
            col = pc.cast(col, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"column {name!r} of {path} holds {col.type} values, not text; "
                             f"give plain text values") from exc
    col = pc.utf8_trim_whitespace(col.cast(pa.string()))
    if required:
        bad = pc.or_kleene(pc.is_null(col), pc.equal(col, "")).fill_null(True)
        if pc.any(bad).as_py():
            first = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0]) + 1
            raise InputError(f"{path}, {row_name(path, first)}: column {name!r} is empty; fill it in or remove "
                             f"the row")
    return col


@dataclass
class Judgements:
    """One row per judgement: ``item, labeller, label, seconds (float, null: not given), group, row_no`` (from 1)."""

    path: str
    table: pa.Table
    has_seconds: bool
    has_group: bool

    @property
    def n(self) -> int:
        return int(self.table.num_rows)


def read_judgements(path: str | Path) -> Judgements:
    """Read and check a judgements file (``item, labeller, label[, seconds][, group]``).

    Empty or header-only files, a missing column, an empty item / labeller / label, a ``seconds`` value that is
    not a non-negative number and a labeller in two groups are errors naming the file and the row or column.
    """
    what = "a judgements file"
    present = columns_of(path, JUDGEMENT_COLUMNS, what)
    optional = [c for c in JUDGEMENT_OPTIONAL if c in present]
    raw = read_rows(path, [*JUDGEMENT_COLUMNS, *optional], what)
    cols = {c: text_column(raw, c, path) for c in JUDGEMENT_COLUMNS}
    n = raw.num_rows
    if "seconds" in optional:
        seconds = _seconds(raw.column("seconds").combine_chunks(), path)
    else:
        seconds = pa.nulls(n, pa.float64())
    group = cols["labeller"]
    if "group" in optional:
        given = text_column(raw, "group", path, required=False)
        group = pc.if_else(pc.or_kleene(pc.is_null(given), pc.equal(given, "")).fill_null(True),
                           cols["labeller"], given)
    table = pa.table({**cols, "seconds": seconds, "group": group,
                      "row_no": pa.array(np.arange(1, n + 1, dtype=np.int64))})
    return Judgements(str(path), table, "seconds" in optional, "group" in optional)


def _seconds(col: pa.Array, path: str | Path) -> pa.Array:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.utf8_trim_whitespace(col)
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    try:
        values = pc.cast(col, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        texts = col.cast(pa.string()).to_pylist()
        for i, v in enumerate(texts, start=1):
            try:
                float(v) if v is not None else None
            except ValueError:
                raise InputError(f"{path}, {row_name(path, i)}: column 'seconds' is {v!r}, not a number; give the "
                                 f"seconds spent on the judgement, or leave it empty") from None
        raise
    arr = values.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~np.isnan(arr) & ((arr < 0) | ~np.isfinite(arr)))
    if len(bad):
        i = int(bad[0]) + 1
        raise InputError(f"{path}, {row_name(path, i)}: column 'seconds' is {arr[bad[0]]}; give a non-negative "
                         f"number of seconds, or leave it empty")
    return values


def read_gold(path: str | Path) -> pa.Table:
    """A gold file ``item, label``: one row per item (an item twice is an error naming both rows)."""
    what = "a gold file"
    columns_of(path, GOLD_COLUMNS, what)
    raw = read_rows(path, list(GOLD_COLUMNS), what)
    items = text_column(raw, "item", path)
    labels = text_column(raw, "label", path)
    first_dup = _first_duplicate(items)
    if first_dup is not None:
        a, b = first_dup
        raise InputError(f"{path}: item {items[a - 1].as_py()!r} appears twice ({row_name(path, a)} and "
                         f"{row_name(path, b)}); keep one gold label per item")
    return pa.table({"item": items, "label": labels})


def _first_duplicate(keys: pa.Array) -> tuple[int, int] | None:
    """(first row, repeating row) of the earliest repeated key, rows from 1; None when keys are unique."""
    codes = pc.dictionary_encode(keys).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    if len(first) == len(codes):
        return None
    seen = np.zeros(len(codes), dtype=bool)
    seen[first] = True
    repeat = int(np.flatnonzero(~seen)[0])
    original = int(np.flatnonzero(codes[:repeat] == codes[repeat])[0])
    return original + 1, repeat + 1


@dataclass
class LabelKeys:
    """The keys of a labels file, to recognise sites already labelled: ids and loose URL keys."""

    ids: set[str]
    urls: set[str]

    def __len__(self) -> int:
        return len(self.ids)


def read_label_keys(path: str | Path) -> LabelKeys:
    """Keys of any labels file: ``item`` (a site id or URL), ``site_id``, ``id`` or ``url`` columns, any present."""
    from siteclass.data.sources import url_key

    present = table_columns(path)
    cols = [c for c in KEY_COLUMNS if c in present]
    if not cols:
        raise InputError(f"{path} has none of the columns {', '.join(KEY_COLUMNS)}; pass a labels file "
                         f"(judgements, consensus.csv, or id/url,label) (columns present: "
                         f"{', '.join(present) or 'none'})")
    table = read_rows(path, cols, "a labels file")
    ids: set[str] = set()
    urls: set[str] = set()
    for c in cols:
        values = [v for v in text_column(table, c, path, required=False).to_pylist() if v]
        if c in ("item", "site_id", "id"):
            ids.update(values)
        if c in ("item", "url"):
            urls.update(k for k in map(url_key, values) if k)
    return LabelKeys(ids, urls)
