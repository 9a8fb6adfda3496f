"""The local batch engine: a crawl folder streamed through a model into a predictions Parquet file.

Batch prediction streams: a crawl writes each site's pages together, so ``pages.parquet`` is read once in Arrow
batches and each run of one site's rows is a complete site (a file whose sites are scattered is hash-partitioned on
disk first, partitions sized by ``[predict] memory_limit_mb``); every ``batch_size`` sites go through the model and
are appended to the output — memory does not grow with the crawl. Output: one row per row of sites.parquet, failed
sites included with their status and no labels (:data:`siteclass.prediction.schema.PREDICTION_SCHEMA`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from siteclass.config import Settings
from siteclass.errors import InputError
from siteclass.labels.overrides import SOURCE_MODEL, Overrides, load_overrides
from siteclass.metrics import UNKNOWN, resolve_min_confidence
from siteclass.models.base import Classifier
from siteclass.prediction.schema import POSITIONED_SCHEMA, PREDICTION_SCHEMA, PredictResult, SitePrediction
from siteclass.records import Record, site_record


class BatchPredictor:
    """Streams a crawl folder through a model into a predictions Parquet file (see the module docstring)."""

    def __init__(
        self,
        model: Classifier,
        *,
        top_k: int = 5,
        min_confidence: float = 0.0,
        batch_size: int = 256,
        pages_per_site: int = 5,
        page_chars: int = 4000,
        memory_limit_mb: int = 512,
        progress: bool = True,
        overrides: Overrides | None = None,
    ) -> None:
        self.model = model
        self.overrides = overrides
        self.top_k = top_k
        self.min_confidence = min_confidence
        self.batch_size = batch_size
        self.pages_per_site = pages_per_site
        self.page_chars = page_chars
        self.memory_limit_mb = memory_limit_mb
        self.progress = progress

    @classmethod
    def from_settings(cls, model: Classifier, settings: Settings) -> BatchPredictor:
        p = settings.predict
        overrides = load_overrides(p.overrides, classes=model.classes_) if p.overrides else None
        return cls(
            model, top_k=p.top_k, min_confidence=resolve_min_confidence(p.min_confidence, model), batch_size=p.batch_size,
            pages_per_site=settings.dataset.pages_per_site, page_chars=settings.dataset.page_chars,
            memory_limit_mb=p.memory_limit_mb, progress=p.progress, overrides=overrides,
        )

    # ------------------------------------------------------------------ reading
    def iter_sites(self, crawl_dir: str | Path) -> Iterator[tuple[dict[str, Any], list[dict[str, str]]]]:
        """(site row with its ``pos`` in sites.parquet, its first pages) for every site, with bounded memory.

        A crawl writes each site's pages together, so pages.parquet is streamed once and every run of rows of one
        site is a complete site (sites without pages follow at the end). When a site's pages are split across
        the file (a hand-made or re-merged crawl), the file is hash-partitioned on disk first (bounded memory).
        """
        import pyarrow.parquet as pq

        crawl = Path(crawl_dir)
        sites_path, pages_path = crawl / "sites.parquet", crawl / "pages.parquet"
        if not sites_path.is_file():
            raise InputError(f"{crawl} is not a crawl folder (no sites.parquet); run `siteclass crawl` first")
        sites = pq.read_table(sites_path, columns=list(_SITE_COLUMNS))
        index = {sid: i for i, sid in enumerate(sites.column("site_id").to_pylist())}
        done = bytearray(sites.num_rows)
        if pages_path.is_file():
            columns = _page_columns(pages_path)
            if _contiguous(pages_path):
                runs = _runs(pages_path, columns)
            else:
                runs = self._partitioned_runs(pages_path, columns)
            for site_id, rows in runs:
                i = index.get(site_id)
                if i is None or done[i]:
                    continue
                done[i] = 1
                rows.sort(key=lambda r: r["order"] if r["order"] is not None else 1 << 15)
                site = _site_row(sites, i)
                site["domain"] = rows[0]["domain"] or ""
                site["lang"] = rows[0].get("lang") or ""  # the home page's declared language (crawls with one)
                yield site, [
                    {"url": r["url"] or "", "title": r["title"] or "", "text": (r["text"] or "")[: self.page_chars]}
                    for r in rows[: self.pages_per_site]
                ]
        for i in range(len(done)):
            if not done[i]:
                yield _site_row(sites, i), []

    def _partitioned_runs(self, pages: Path, columns: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Runs of a pages file whose sites are scattered: hash-partition it into temporary files small enough
        for ``memory_limit_mb``, then group each partition in memory (an external hash group-by)."""
        import zlib

        import numpy as np
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        source = pq.ParquetFile(pages, pre_buffer=False, buffer_size=1 << 20)
        meta = source.metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        # a partition is an eighth of the limit: grouping it holds its table, a sorted copy and the rows as
        # Python dicts, several times its bytes (with a quarter, the 20K scattered sites of
        # tests/test_predict.py's memory check peaked ~25 MB higher)
        parts = max(1, min(256, -(-size // (self.memory_limit_mb * (1 << 20) // 8))))
        with tempfile.TemporaryDirectory(prefix="siteclass-predict-") as tmp:
            schema = source.schema_arrow
            schema = pa.schema([schema.field(c) for c in columns])
            writers = [pq.ParquetWriter(Path(tmp) / f"{p}.parquet", schema) for p in range(parts)]
            try:
                for batch in source.iter_batches(columns=columns, batch_size=2048, use_threads=False):
                    batch = batch.set_column(4, "text", pc.utf8_slice_codeunits(batch.column(4), 0, self.page_chars))
                    which = np.fromiter((zlib.crc32((s or "").encode()) % parts
                                         for s in batch.column(0).to_pylist()), np.int64, batch.num_rows)
                    for p in np.unique(which):
                        writers[int(p)].write_batch(batch.filter(pa.array(which == p)))
            finally:
                for w in writers:
                    w.close()
            for p in range(parts):
                table = pq.read_table(Path(tmp) / f"{p}.parquet").sort_by([("site_id", "ascending")])
                yield from _group_runs(table.to_batches(max_chunksize=2048))
                del table

    # ------------------------------------------------------------------ predicting
    def predict_group(self, group: list[tuple[dict[str, Any], list[dict[str, str]]]]) -> list[SitePrediction]:
        """Predictions of a group of (site, pages): a site with pages (or a ready ``record``) goes to the model;
        ``warning`` is set from the site's declared ``lang``, else from its text (``prediction.language``)."""
        from siteclass.metrics import apply_min_confidence
        from siteclass.prediction.language import language_warning

        out: list[SitePrediction] = []
        todo: list[int] = []
        records: list[Record] = []
        for site, pages in group:
            url = site.get("input_url") or site.get("final_url") or ""
            prediction = SitePrediction(str(site["site_id"]), url, str(site.get("status") or ""), pages=pages,
                                        name=site.get("name") or "")
            prediction.extra = site.get("keep") or {}
            out.append(prediction)
            record = site.get("record")
            if record is None and pages:
                record = site_record(site.get("name") or "", site.get("final_url") or url, pages,
                                     domain=site.get("domain") or "")
            if record is not None:
                todo.append(len(out) - 1)
                records.append(record)
                prediction.warning = language_warning(record, site.get("lang"))
        if records:
            for i, top in zip(todo, self.model.predict_top_k(records, k=self.top_k)):
                d = apply_min_confidence(top, self.min_confidence)
                out[i].label, out[i].probability = d.label, d.probability
                out[i].labels, out[i].probabilities = d.labels, d.probabilities
                out[i].naics_code, out[i].naics_title, out[i].note = d.code, d.title, d.note
                out[i].source = SOURCE_MODEL
        if self.overrides:
            for (site, _), prediction in zip(group, out):
                hit = self.overrides.lookup(prediction.site_id, site.get("final_url") or prediction.url,
                                            site.get("domain") or prediction.url)
                if hit is not None:
                    prediction.override(hit)
        return out

    def iter_predictions(self, crawl_dir: str | Path) -> Iterator[tuple[int, SitePrediction]]:
        """(position in sites.parquet, prediction) per site, model calls of ``batch_size`` sites."""
        return self.iter_group_predictions(self.iter_sites(crawl_dir))

    def iter_group_predictions(self, sites: Iterable[tuple[dict[str, Any], list[dict[str, str]]]]
                               ) -> Iterator[tuple[int, SitePrediction]]:
        """(``pos``, prediction) for every (site, pages) of *sites*, model calls of ``batch_size`` sites."""
        group: list[tuple[dict[str, Any], list[dict[str, str]]]] = []
        for item in sites:
            group.append(item)
            if len(group) >= self.batch_size:
                yield from zip((s["pos"] for s, _ in group), self.predict_group(group))
                group = []
        if group:
            yield from zip((s["pos"] for s, _ in group), self.predict_group(group))

    def predict_crawl(self, crawl_dir: str | Path, out: str | Path, kept: Kept | None = None) -> PredictResult:
        """Write one prediction row per site of *crawl_dir* to *out*, in the order of sites.parquet.

        *kept*: columns of the sites file to add, looked up by site id (``--sites FILE --keep COL,…``).
        """
        import pyarrow.parquet as pq

        sites_path = Path(crawl_dir) / "sites.parquet"
        total = pq.ParquetFile(sites_path).metadata.num_rows if sites_path.is_file() else 0
        sites = self.iter_sites(crawl_dir)
        if kept is not None and kept.by_id is not None:
            sites = kept.attach(sites)
        return self.write(sites, out, total=total, kept=kept)

    def write(self, sites: Iterable[tuple[dict[str, Any], list[dict[str, str]]]], out: str | Path, *,
              total: int | None = None, kept: Kept | None = None) -> PredictResult:
        """Predict every (site, pages) of *sites* (each site with its ``pos``) into *out*, ordered by ``pos``:
        :data:`PREDICTION_SCHEMA`, then the kept columns. Streams: ``batch_size`` sites at a time."""
        import pyarrow.parquet as pq
        from tqdm import tqdm

        out = Path(out)
        if out.suffix.lower() not in (".parquet", ".pq"):
            raise InputError(f"--out {out} must be a .parquet file")
        fields = kept.fields if kept is not None else []
        schema = pa.schema([*POSITIONED_SCHEMA, *fields])
        target = pa.schema([*PREDICTION_SCHEMA, *fields])
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        unordered = out.with_name(f".{out.name}.unordered-{os.getpid()}")
        counts: dict[str, int] = {}
        n = predicted = warned = unknown = 0
        in_order, last_pos = True, -1
        rows: list[dict[str, Any]] = []
        bar = tqdm(total=total, unit="site", desc="predict", disable=None if self.progress else True)  # None: no bar when stderr is no terminal
        try:
            with pq.ParquetWriter(unordered, schema) as writer:
                for pos, pred in self.iter_group_predictions(sites):
                    rows.append({**pred.extra, **pred.row(), "pos": pos})
                    in_order, last_pos = in_order and pos > last_pos, pos
                    counts[pred.status] = counts.get(pred.status, 0) + 1
                    n += 1
                    predicted += pred.label is not None
                    warned += pred.warning is not None
                    unknown += pred.label == UNKNOWN
                    if len(rows) >= self.batch_size:
                        writer.write_table(_table(rows, schema))
                        bar.update(len(rows))
                        rows = []
                writer.write_table(_table(rows, schema))
                bar.update(len(rows))
            self._finish(unordered, tmp, in_order, target)
            os.replace(tmp, out)
        finally:
            bar.close()
            tmp.unlink(missing_ok=True)
            unordered.unlink(missing_ok=True)
        return PredictResult(str(out), n, predicted, counts, warned, unknown, self.min_confidence)

    def _finish(self, unordered: Path, target: Path, in_order: bool, schema: pa.Schema = PREDICTION_SCHEMA) -> None:
        """Drop the ``pos`` column, restoring the order of sites.parquet when the stream was out of order."""
        import pyarrow.parquet as pq

        source = pq.ParquetFile(unordered)
        if not in_order:
            import duckdb

            with tempfile.TemporaryDirectory(prefix="siteclass-predict-") as spill:
                con = duckdb.connect(config={"memory_limit": f"{self.memory_limit_mb}MB",
                                             "temp_directory": spill, "threads": 1})
                try:
                    reader = con.sql("SELECT * EXCLUDE (pos) FROM read_parquet(?) ORDER BY pos",
                                     params=[str(unordered)]).to_arrow_reader(8192)
                    with pq.ParquetWriter(target, schema) as writer:
                        for batch in reader:
                            writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                finally:
                    con.close()
            return
        with pq.ParquetWriter(target, schema) as writer:
            for batch in source.iter_batches(batch_size=8192, columns=schema.names):
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))


_SITE_COLUMNS = ("site_id", "name", "input_url", "final_url", "status")
_PAGE_COLUMNS = ["site_id", "url", "domain", "title", "text", "order"]  # text is column 4 (cut to page_chars)


@dataclass
class Kept:
    """Input columns a prediction keeps (``--keep COL,…``): their Arrow fields and, for a crawl, each site's values
    by site id (a table's rows carry theirs in ``site["keep"]``)."""

    fields: list[pa.Field]
    by_id: dict[str, dict[str, Any]] | None = None

    def attach(self, sites: Iterable[tuple[dict[str, Any], list[dict[str, str]]]]
               ) -> Iterator[tuple[dict[str, Any], list[dict[str, str]]]]:
        empty = {f.name: None for f in self.fields}
        for site, pages in sites:
            site["keep"] = (self.by_id or {}).get(str(site["site_id"]), empty)
            yield site, pages


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    try:
        return pa.Table.from_pylist(rows, schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # a kept column whose type changes down the file
        raise InputError(f"a kept column changes type down the input ({exc}); keep columns of one type") from exc


def _page_columns(pages: Path) -> list[str]:
    """The page columns read: :data:`_PAGE_COLUMNS`, and ``lang`` when the crawl has it."""
    import pyarrow.parquet as pq

    names = pq.ParquetFile(pages).schema_arrow.names
    return [*_PAGE_COLUMNS, *(["lang"] if "lang" in names else [])]


def _site_row(sites: pa.Table, i: int) -> dict[str, Any]:
    row: dict[str, Any] = sites.slice(i, 1).to_pylist()[0]
    row["pos"] = i
    return row


def _contiguous(pages: Path) -> bool:
    """True when every site's rows in pages.parquet form one run (reads the site_id column only)."""
    import pyarrow.parquet as pq

    seen: set[str] = set()
    last: str | None = None
    reader = pq.ParquetFile(pages, pre_buffer=False, buffer_size=1 << 20)
    for batch in reader.iter_batches(columns=["site_id"], batch_size=65536, use_threads=False):
        for sid in batch.column(0).to_pylist():
            if sid != last:
                if sid in seen:
                    return False
                seen.add(sid)
                last = sid
    return True


def _runs(pages: Path, columns: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    import pyarrow.parquet as pq

    # No read-ahead and no threads: one row group's column chunks at a time, whatever the file's size.
    reader = pq.ParquetFile(pages, pre_buffer=False, buffer_size=1 << 20)
    yield from _group_runs(reader.iter_batches(columns=columns, batch_size=1024, use_threads=False))


def _group_runs(batches: Any) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Consecutive rows with the same site_id → (site_id, rows)."""
    current: str | None = None
    rows: list[dict[str, Any]] = []
    for batch in batches:
        for row in batch.to_pylist():
            if row["site_id"] != current:
                if current is not None:
                    yield current, rows
                current, rows = row["site_id"], []
            rows.append(row)
    if current is not None:
        yield current, rows
