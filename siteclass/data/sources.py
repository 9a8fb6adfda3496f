"""Inputs of a dataset build, streamed as column batches of normalised rows.

Every source yields dicts of equal-length Python lists with the keys ``id, domain, name, url, label`` and
either ``text`` (tables) or ``pages`` (crawls: each site's pages in crawl order, ``status`` too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from siteclass.data.domains import registered_domain
from siteclass.data.io import (
    BATCH_ROWS,
    check_columns,
    has_rows,
    iter_batches,
    no_rows_error,
    read_table,
    table_columns,
)
from siteclass.data.rows import join_texts, parse_label
from siteclass.errors import InputError

Batch = dict[str, list[Any]]
DOMAIN_COLUMNS = ("domain", "url", "website", "homepage", "site")
ID_COLUMNS = ("id", "site_id")


def _schema_type(path: str | Path, column: str) -> pa.DataType | None:
    for batch in iter_batches(path, [column], batch_rows=64):
        return batch.schema.field(column).type
    return None


def _is_list(t: pa.DataType | None) -> bool:
    return t is not None and (pa.types.is_list(t) or pa.types.is_large_list(t))


class TableSource:
    """Any CSV / Parquet / JSONL table: text columns joined, one label column (a list column: multi-label)."""

    site_mode = False

    def __init__(self, path: str | Path, text_columns: list[str], label_column: str) -> None:
        if not text_columns:
            raise InputError("--text is required with --table: name the text column(s), e.g. --text name,description")
        self.path = path
        present = table_columns(path)
        if present and not has_rows(path):  # a header-only file: say so, not "columns not found"
            raise no_rows_error(path, present)
        check_columns(path, present, [*text_columns, label_column])
        self.text_columns = text_columns
        self.label_column = label_column
        self.id_column = next((c for c in ID_COLUMNS if c in present), None)
        self.name_column = "name" if "name" in present else None
        self.domain_column = next((c for c in DOMAIN_COLUMNS if c in present), None)
        self.url_column = next((c for c in ("url", "website", "homepage") if c in present), None)
        wanted = [*text_columns, label_column]
        for c in (self.id_column, self.name_column, self.domain_column, self.url_column):
            if c and c not in wanted:
                wanted.append(c)
        self.columns = wanted
        self.multi_label = _is_list(_schema_type(path, label_column))
        self.extra: dict[str, Any] = {}

    def normalize(self, cols: dict[str, list[Any]], ordinal: int) -> Batch:
        """Pure: raw column values of a batch → a normalised batch (rows numbered from *ordinal*)."""
        n = len(cols[self.label_column])
        texts = [join_texts(vals) for vals in zip(*(cols[c] for c in self.text_columns))]
        ids = ([str(v) if v is not None else str(ordinal + i) for i, v in enumerate(cols[self.id_column])]
               if self.id_column else [str(ordinal + i) for i in range(n)])
        urls = [str(v or "") for v in cols[self.url_column]] if self.url_column else [""] * n
        domains = ([registered_domain(str(v)) if v else "" for v in cols[self.domain_column]]
                   if self.domain_column else [""] * n)
        names = [str(v or "") for v in cols[self.name_column]] if self.name_column else [""] * n
        return {"id": ids, "domain": domains, "name": names, "url": urls, "text": texts,
                "label": [parse_label(v, False) for v in cols[self.label_column]]}

    def batches(self) -> Iterator[Batch]:
        ordinal = 0
        for rb in iter_batches(self.path, self.columns, BATCH_ROWS):
            yield self.normalize({c: rb.column(c).to_pylist() for c in self.columns}, ordinal)
            ordinal += rb.num_rows


def _parquet_glob(path: Path) -> str:
    return str(path / "**" / "*.parquet") if path.is_dir() else str(path)


def url_key(url: str) -> str:
    """Loose key of a site URL: host without www, path without trailing slash, lower case, no scheme."""
    u = (url or "").strip().lower()
    if "://" in u:
        u = u.split("://", 1)[1]
    u = u.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    return u[4:] if u.startswith("www.") else u


def _min_share(lab: pa.Table, path: str | Path, min_share: float) -> tuple[pa.Table, int]:
    """Rows of a labels table whose ``share`` (consensus.csv of `siteclass labels agree`), at two decimals, is at
    least *min_share* (so 0.67 keeps two votes of three), and how many were below."""
    if min_share <= 0:
        return lab, 0
    if "share" not in lab.column_names:
        raise InputError(f"--min-share {min_share} needs a 'share' column in {path} (the consensus.csv written by "
                         f"`siteclass labels agree`); pass that file or drop --min-share "
                         f"(columns present: {', '.join(lab.column_names)})")
    import numpy as np
    import pyarrow.compute as pc

    try:
        share = pc.cast(lab.column("share"), pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"column 'share' of {path} is not numeric; pass the consensus.csv written by "
                         f"`siteclass labels agree`") from exc
    if np.isnan(share).any():
        row = int(np.flatnonzero(np.isnan(share))[0]) + 1
        raise InputError(f"{path}, row {row}: column 'share' is empty; give every item its share of agreeing "
                         f"judgements (0–1) or drop --min-share")
    keep = np.round(share, 2) >= min_share - 1e-9
    return lab.filter(pa.array(keep)), int((~keep).sum())


class CrawlSource:
    """A crawl folder (sites.parquet + pages.parquet) joined with a labels table keyed by ``id`` or ``url``."""

    site_mode = True

    def __init__(self, crawl_dir: str | Path, labels: str | Path, min_share: float = 0.0) -> None:
        self.dir = Path(crawl_dir)
        if not self.dir.is_dir():
            raise InputError(f"crawl folder {self.dir} does not exist; run `siteclass crawl` first")
        self.sites_path, self.pages_path = self.dir / "sites.parquet", self.dir / "pages.parquet"
        for p in (self.sites_path, self.pages_path):
            if not p.exists():
                raise InputError(f"{p} not found; {self.dir} is not a siteclass crawl output folder")
        sites = read_table(self.sites_path)
        check_columns(self.sites_path, sites.column_names, ["site_id", "name", "input_url"])
        check_columns(self.pages_path, table_columns(self.pages_path) if self.pages_path.is_file()
                      else ["site_id", "url", "title", "text", "order"], ["site_id", "url", "title", "text", "order"])
        self.labels_path = labels
        lab = read_table(labels)
        check_columns(labels, lab.column_names, ["label"])
        key = next((c for c in ("id", "site_id", "item", "url") if c in lab.column_names), None)
        if key is None:
            raise InputError(f"{labels} needs an 'id', 'item' or 'url' column to match the crawl's sites; "
                             f"columns present: {', '.join(lab.column_names)}")
        lab, below = _min_share(lab, labels, min_share)
        label_type = lab.schema.field("label").type
        raw_labels = lab.column("label").to_pylist()
        self.multi_label = _is_list(label_type) or any(isinstance(v, str) and ";" in v for v in raw_labels)
        self.sites = sorted(sites.select([c for c in ("site_id", "name", "input_url", "final_url", "status")
                                          if c in sites.column_names]).to_pylist(), key=lambda r: str(r["site_id"]))
        by_key: dict[str, str] = {}
        by_url: dict[str, str] = {}  # 'item': a site id, else a URL
        for s in self.sites:
            k = str(s["site_id"]) if key != "url" else url_key(str(s.get("input_url") or ""))
            by_key.setdefault(k, str(s["site_id"]))
            if key == "item":
                by_url.setdefault(url_key(str(s.get("input_url") or "")), str(s["site_id"]))
        self.labels: dict[str, list[str]] = {}
        missing: list[str] = []
        for k, v in zip(lab.column(key).to_pylist(), raw_labels):
            kk = url_key(str(k or "")) if key == "url" else str(k)
            sid = by_key.get(kk)
            if sid is None and key == "item":
                sid = by_url.get(url_key(str(k or "")))
            if sid is None:
                missing.append(str(k))
            else:
                self.labels.setdefault(sid, parse_label(v, True))
        self.extra = {"labels_missing_from_crawl": {"count": len(missing), "keys": sorted(missing)[:1000]},
                      "label_key": key}
        if min_share > 0:
            self.extra["labels_below_min_share"] = {"min_share": min_share, "count": below}

    def _pages(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads TO 2")
        glob = _parquet_glob(self.pages_path).replace("'", "''")
        query = f"""
            SELECT CAST(site_id AS VARCHAR) AS site_id,
                   list(struct_pack(url := url, title := title, text := text) ORDER BY "order", url) AS pages
            FROM read_parquet('{glob}') GROUP BY 1 ORDER BY 1"""
        try:
            reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise InputError(f"cannot read {self.pages_path}: {exc}") from exc
        for rb in reader:  # type: ignore[union-attr]
            yield from zip(rb.column(0).to_pylist(), rb.column(1).to_pylist())

    def batches(self) -> Iterator[Batch]:
        pages_it = self._pages()
        nxt = next(pages_it, None)
        batch: Batch = {k: [] for k in ("id", "domain", "name", "url", "pages", "status", "label")}
        for s in self.sites:
            sid = str(s["site_id"])
            while nxt is not None and nxt[0] < sid:  # pages of a site absent from sites.parquet: ignored
                nxt = next(pages_it, None)
            pages: list[dict[str, Any]] = []
            if nxt is not None and nxt[0] == sid:
                pages, nxt = nxt[1], next(pages_it, None)
            home = str(s.get("final_url") or s.get("input_url") or "")
            batch["id"].append(sid)
            batch["domain"].append(registered_domain(home) or registered_domain(str(s.get("input_url") or "")))
            batch["name"].append(str(s.get("name") or ""))
            batch["url"].append(str(s.get("input_url") or ""))
            batch["pages"].append(pages)
            batch["status"].append(str(s.get("status") or ""))
            batch["label"].append(self.labels.get(sid, []))
            if len(batch["id"]) >= BATCH_ROWS:
                yield batch
                batch = {k: [] for k in batch}
        if batch["id"]:
            yield batch
