"""`siteclass labels queue`: the sites most worth labelling next, from a predictions Parquet.

Strategies (uncertainty sampling on the model's own probabilities):

- ``margin`` (default): smallest gap between the two best probabilities first;
- ``entropy``: largest entropy first (over the top-k probabilities and the rest of the mass as one outcome);
- ``diverse``: smallest margins, spread round-robin over the predicted labels (each label's most uncertain
  site, then each label's second, …), so one confusing class does not fill the whole budget.

Ties are broken by site id, so a queue is reproducible. Sites whose status is not ``ok`` (no prediction) and sites
already in an ``--exclude`` labels file (``item``, ``site_id``, ``id`` or ``url`` column) are skipped and counted.
With ``--crawl`` each row also gets the site's name and the titles of its first pages in crawl order.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siteclass.config import LabelsSettings
from siteclass.errors import InputError
from siteclass.prediction.schema import OPTIONAL_COLUMNS, PREDICTION_SCHEMA

# what `siteclass predict` writes (prediction/schema.py); files from before overrides lack the optional columns
PREDICTION_COLUMNS = tuple(n for n in PREDICTION_SCHEMA.names if n not in OPTIONAL_COLUMNS)
STRATEGIES = ("margin", "entropy", "diverse")


@dataclass
class QueueResult:
    out: Path
    rows: int
    counts: dict[str, int] = field(default_factory=dict)


def read_predictions(path: str | Path) -> pa.Table:
    """A predictions file in the documented schema (docs/architecture.md, "Predictions"); another schema is an
    error naming the missing or mistyped column."""
    from siteclass.data.io import read_table, table_columns

    present = table_columns(path)
    for col in PREDICTION_COLUMNS:
        if col not in present:
            raise InputError(f"{path} has no column {col!r}: it is not a predictions file of `siteclass predict` "
                             f"({', '.join(PREDICTION_COLUMNS)}); pass the --out Parquet of `siteclass predict`")
    table = read_table(path, columns=[*PREDICTION_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in present)])
    for col, kind in (("labels", "a list of labels"), ("probabilities", "a list of probabilities")):
        t = table.schema.field(col).type
        if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
            raise InputError(f"column {col!r} of {path} holds {t} values, not {kind}: it is not a predictions file "
                             f"of `siteclass predict`; pass the --out Parquet of `siteclass predict`")
    if not pa.types.is_floating(table.schema.field("probabilities").type.value_type):
        raise InputError(f"column 'probabilities' of {path} does not hold numbers; pass the --out Parquet of "
                         f"`siteclass predict`")
    return table


def uncertainty(probabilities: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(margin, entropy) per row of a list<float> column; rows without probabilities get NaN."""
    arr = probabilities.combine_chunks() if isinstance(probabilities, pa.ChunkedArray) else probabilities
    n = len(arr)
    lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    width = max(2, int(lengths.max()) if n else 2)
    flat = pc.list_flatten(arr).fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)
    mat = np.full((n, width), -np.inf)
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    mat[rows, cols] = flat
    mat = -np.sort(-mat, axis=1)
    p = np.where(np.isfinite(mat), np.clip(mat, 0.0, 1.0), 0.0)
    margin = p[:, 0] - p[:, 1]
    rest = np.clip(1.0 - p.sum(axis=1), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0).sum(axis=1)
        terms += np.where(rest > 0, -rest * np.log(rest), 0.0)
    empty = lengths == 0
    margin[empty] = np.nan
    terms[empty] = np.nan
    return margin, terms


def order(strategy: str, site_ids: Sequence[str], labels: Sequence[str], margin: np.ndarray,
          entropy: np.ndarray) -> np.ndarray:
    """Row positions in queue order for *strategy* (ties broken by site id)."""
    ids = np.asarray(site_ids, dtype=object)
    id_rank = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
    if strategy == "margin":
        return np.lexsort((id_rank, margin))
    if strategy == "entropy":
        return np.lexsort((id_rank, -entropy))
    if strategy == "diverse":
        by_label = np.lexsort((id_rank, margin, np.asarray(labels, dtype=object)))
        turn = np.empty(len(by_label), dtype=np.int64)
        lab = np.asarray(labels, dtype=object)[by_label]
        start = np.r_[True, lab[1:] != lab[:-1]] if len(lab) else np.zeros(0, dtype=bool)
        first = np.maximum.accumulate(np.where(start, np.arange(len(lab)), 0))
        turn[by_label] = np.arange(len(lab)) - first
        return np.lexsort((id_rank, margin, turn))
    raise InputError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


def _fmt_list(values: list[Any] | None, k: int, digits: int | None = None) -> str:
    vals = list(values or [])[:k]
    return "|".join(f"{float(v):.{digits}f}" if digits is not None else str(v) for v in vals)


class LabelQueue:
    """Pick the *budget* sites most worth labelling next from a predictions file."""

    def __init__(self, strategy: str, budget: int, top_k: int, digits: int, titles: int) -> None:
        if strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
        if budget < 1:
            raise InputError(f"--budget {budget} must be at least 1")
        self.strategy, self.budget, self.top_k, self.digits, self.titles = strategy, budget, top_k, digits, titles

    @classmethod
    def from_settings(cls, settings: LabelsSettings) -> LabelQueue:
        return cls(settings.strategy, settings.budget, settings.top_k, settings.digits, settings.titles)

    def select(self, table: pa.Table, exclude: Sequence[str | Path] = ()) -> tuple[pa.Table, dict[str, int]]:
        """The queued rows (in order) with ``margin`` and ``entropy`` columns, and the counts of what was skipped."""
        from siteclass.data.sources import url_key
        from siteclass.labels.tables import read_label_keys

        counts = {"sites": table.num_rows}
        status = pc.fill_null(table.column("status"), "")
        ok = pc.equal(status, "ok")
        counts["skipped_not_ok"] = table.num_rows - int(pc.sum(ok).as_py() or 0)
        table = table.filter(ok)
        if "source" in table.column_names:  # a site an override decided is labelled already
            decided = pc.fill_null(pc.equal(table.column("source"), "override"), False)
            counts["skipped_overridden"] = int(pc.sum(decided).as_py() or 0)
            table = table.filter(pc.invert(decided))
        margin, entropy = uncertainty(table.column("probabilities"))
        has = ~np.isnan(margin)
        counts["skipped_no_probabilities"] = int((~has).sum())
        keep = has
        if exclude:
            ids: set[str] = set()
            urls: set[str] = set()
            for path in exclude:
                keys = read_label_keys(path)
                ids |= keys.ids
                urls |= keys.urls
            site_ids = table.column("site_id").to_pylist()
            site_urls = table.column("url").to_pylist()
            excluded = np.array([(str(s) in ids) or (url_key(str(u or "")) in urls)
                                 for s, u in zip(site_ids, site_urls)], dtype=bool)
            counts["skipped_excluded"] = int((excluded & keep).sum())
            keep = keep & ~excluded
        idx = np.flatnonzero(keep)
        table = table.take(pa.array(idx, pa.int64()))
        margin, entropy = margin[idx], entropy[idx]
        counts["eligible"] = table.num_rows
        labels = [str(v) for v in pc.fill_null(table.column("label"), "").to_pylist()]
        ranked = order(self.strategy, [str(s) for s in table.column("site_id").to_pylist()], labels, margin,
                       entropy)[: self.budget]
        out = table.take(pa.array(ranked, pa.int64()))
        out = out.append_column("margin", pa.array(margin[ranked])).append_column("entropy", pa.array(entropy[ranked]))
        counts["queued"] = out.num_rows
        return out, counts

    def rows(self, selected: pa.Table, crawl: str | Path | None = None) -> list[dict[str, Any]]:
        """CSV rows: top-k as ``a|b|c`` and ``0.41|0.38|0.07``, and the site's name and page titles with a crawl."""
        info = crawl_titles(crawl, selected.column("site_id").to_pylist(), self.titles) if crawl else None
        rows = []
        for r in selected.to_pylist():
            row: dict[str, Any] = {
                "site_id": r["site_id"], "url": r["url"], "label": r["label"],
                "probability": f"{float(r['probability']):.{self.digits}f}" if r["probability"] is not None else "",
                "labels": _fmt_list(r["labels"], self.top_k),
                "probabilities": _fmt_list(r["probabilities"], self.top_k, self.digits),
                "margin": f"{r['margin']:.4f}", "entropy": f"{r['entropy']:.4f}",
            }
            if info is not None:
                name, titles = info.get(str(r["site_id"]), ("", []))
                row["name"] = name
                row["titles"] = " | ".join(titles)
            rows.append(row)
        return rows

    def run(self, predictions: str | Path, out: str | Path, crawl: str | Path | None = None,
            exclude: Sequence[str | Path] = ()) -> QueueResult:
        table = read_predictions(predictions)
        selected, counts = self.select(table, exclude)
        if selected.num_rows == 0:
            raise InputError(f"no site of {predictions} is left to queue ({counts['sites']} sites: "
                             f"{counts['skipped_not_ok']} not ok, {counts.get('skipped_excluded', 0)} already "
                             f"labelled); predict more sites or drop --exclude")
        rows = self.rows(selected, crawl)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return QueueResult(out, len(rows), counts)


def crawl_titles(crawl: str | Path, site_ids: list[str], limit: int) -> dict[str, tuple[str, list[str]]]:
    """site id → (name, the titles of its first *limit* pages in crawl order) for the given sites."""
    import duckdb

    folder = Path(crawl)
    sites, pages = folder / "sites.parquet", folder / "pages.parquet"
    for p in (sites, pages):
        if not p.exists():
            raise InputError(f"{p} not found; --crawl {folder} is not a siteclass crawl output folder")
    con = duckdb.connect()
    try:
        con.register("wanted", pa.table({"site_id": pa.array([str(s) for s in site_ids], pa.string())}))
        glob = str(pages / "**" / "*.parquet") if pages.is_dir() else str(pages)
        q_pages = glob.replace("'", "''")
        q_sites = str(sites).replace("'", "''")
        rows = con.execute(f"""
            WITH t AS (SELECT CAST(site_id AS VARCHAR) AS site_id,
                              list(title ORDER BY "order", url) FILTER (WHERE coalesce(title, '') <> '') AS titles
                       FROM read_parquet('{q_pages}') WHERE CAST(site_id AS VARCHAR) IN (SELECT site_id FROM wanted)
                       GROUP BY 1),
                 s AS (SELECT CAST(site_id AS VARCHAR) AS site_id, any_value(name) AS name
                       FROM read_parquet('{q_sites}') WHERE CAST(site_id AS VARCHAR) IN (SELECT site_id FROM wanted)
                       GROUP BY 1)
            SELECT w.site_id, coalesce(s.name, ''), t.titles FROM wanted w
            LEFT JOIN s ON s.site_id = w.site_id LEFT JOIN t ON t.site_id = w.site_id""").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"cannot read the crawl in {folder}: {exc}") from exc
    finally:
        con.close()
    return {sid: (name, list(titles or [])[:limit]) for sid, name, titles in rows}


def label_queue(predictions: str | Path, out: str | Path, budget: int | None = None,
                strategy: str | None = None, crawl: str | Path | None = None,
                exclude: Sequence[str | Path] | str | Path | None = None,
                settings: LabelsSettings | None = None) -> QueueResult:
    """Write the *budget* sites of *predictions* most worth labelling next to *out* (CSV), and
    ``OUT.settings.toml`` beside it."""
    import tomli_w

    from siteclass.config import settings_dict
    from siteclass.labels.settings import labels_settings

    s = labels_settings(settings, budget=budget, strategy=strategy)
    if isinstance(exclude, str | Path):
        exclude = [exclude]
    result = LabelQueue.from_settings(s).run(predictions, out, crawl, list(exclude or []))
    Path(out).with_name(Path(out).stem + ".settings.toml").write_text(
        tomli_w.dumps({"labels": settings_dict(s)}), encoding="utf-8")
    return result
