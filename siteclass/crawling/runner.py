"""``siteclass.crawl(sites, out)``: read the input, run the Scrapy crawl in a child process, merge, summarise.

The crawl runs in ``python -m siteclass.crawling.worker`` (Twisted's reactor cannot restart), so ``crawl`` can be
called any number of times from one Python process. Re-running with the same ``out`` resumes: sites already
done are skipped.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from siteclass.config import CrawlSettings, settings_dict
from siteclass.crawling.items import INVALID_INPUT, OK, SiteInput, SiteRow
from siteclass.crawling.urls import normalize_input_url
from siteclass.errors import InputError, SiteclassError


@dataclass
class CrawlResult:
    out: str
    n_sites: int
    n_ok: int
    n_failed: int
    n_pages: int
    elapsed_s: float
    status_counts: dict[str, int] = field(default_factory=dict)
    n_crawled: int = 0  # sites crawled by this run (the rest were done before or invalid)

    @property
    def pages_per_min(self) -> float:
        return 60.0 * self.n_pages / self.elapsed_s if self.elapsed_s > 0 else 0.0


# ----- input -----
def sites_from_records(records: list[dict[str, Any]], source: str = "sites") -> list[SiteInput]:
    """Validate input rows (``url`` required, ``id``/``name`` optional; id defaults to the 1-based row number).

    Bad rows (empty/invalid URL, duplicate id) come back with ``error`` set: they become invalid_input rows.
    """
    out: list[SiteInput] = []
    first_row: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        raw_id = record.get("id", record.get("site_id"))
        site_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else str(number)
        raw_url = record.get("url")
        raw_url = "" if raw_url is None else str(raw_url)
        name = record.get("name")
        site = SiteInput(site_id=site_id, name="" if name is None else str(name), input_url=raw_url)
        if site_id in first_row:
            site.error = f"duplicate id {site_id!r} in {source} (first on row {first_row[site_id]}); ids must be unique"
        else:
            first_row[site_id] = number
            try:
                site.url = normalize_input_url(raw_url)
            except InputError as exc:
                site.error = f"row {number} of {source}: {exc}"
        out.append(site)
    return out


def _something_to_crawl(sites: list[SiteInput], path: Path, url_column: str) -> list[SiteInput]:
    """*sites* read from *path*; a file with no rows, or no row with a valid URL (a wrong column or file, most
    likely), is an InputError: crawling it would only write an empty output."""
    if not sites:
        raise InputError(f"sites file {path} has no rows; give one site per row, with its URL in a {url_column!r} "
                         "column")
    if all(site.error for site in sites):
        rows = f"{len(sites)} row{'s' if len(sites) > 1 else ''}"
        raise InputError(f"sites file {path} has no row with a valid URL ({rows}; {sites[0].error}); check that "
                         f"the {url_column!r} column holds the sites' addresses, or name another with --url-column")
    return sites


def read_sites(path: str | Path, url_column: str = "url") -> list[SiteInput]:
    """Read a CSV or Parquet file with a URL column (*url_column*, ``url`` by default; ``id``, ``name`` optional).

    Column names match case-insensitively and with surrounding spaces ignored. A file with no row to crawl is an
    InputError.
    """
    path = Path(path)
    url_key = url_column.strip().lower()
    if not path.is_file():
        raise InputError(f"sites file {path} does not exist; pass a CSV or Parquet file with a {url_column!r} column")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise InputError(f"sites file {path} is not a readable Parquet file: {exc}") from exc
        columns = {c.strip().lower(): c for c in table.column_names}
        if url_key not in columns:
            raise InputError(f"sites file {path} has no {url_column!r} column (columns: {', '.join(table.column_names)})"
                             "; name the URL column with --url-column")
        wanted = {"id": "id", "site_id": "site_id", "name": "name"}
        wanted[url_key] = "url"  # a column named url besides another URL column is ignored, as in a CSV
        if url_key != "url":
            columns.pop("url", None)
        data = {wanted[key]: table[col].to_pylist() for key, col in columns.items() if key in wanted}
        records = [dict(zip(data, values)) for values in zip(*data.values())]
        return _something_to_crawl(sites_from_records(records, str(path)), path, url_column)
    from siteclass.charsets import resolve_encoding

    with path.open("rb") as raw:
        encoding = resolve_encoding(raw.read(1 << 20), f"sites file {path}")
    try:
        with path.open(encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if url_key not in fields:
                found = ", ".join(reader.fieldnames or []) or "none"
                raise InputError(f"sites file {path} has no {url_column!r} column (columns: {found}); add a header "
                                 "row with url, or name the URL column with --url-column")
            if url_key != "url":  # the URL column is read as url; a column named url besides it is ignored
                fields = ["url" if f == url_key else ("" if f == "url" else f) for f in fields]
            reader.fieldnames = fields
            records = list(reader)
    except UnicodeDecodeError as exc:
        raise InputError(f"sites file {path} is not valid {encoding} text ({exc}); pass its encoding, e.g. "
                         "--encoding cp1252 (Excel on Windows) or --encoding latin-1") from exc
    return _something_to_crawl(sites_from_records(records, str(path)), path, url_column)


def _resolve(settings: CrawlSettings | None, overrides: dict[str, Any]) -> CrawlSettings:
    settings = settings or CrawlSettings.model_validate({})
    unknown = sorted(set(overrides) - set(CrawlSettings.model_fields))
    if unknown:
        raise InputError(f"unknown crawl setting(s): {', '.join(unknown)}")
    data = {**settings.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return CrawlSettings.model_validate(data)
    except Exception as exc:
        raise InputError(f"invalid crawl settings: {exc}") from exc


# ----- crawl -----
def crawl(
    sites: str | Path | list[dict[str, Any]],
    out: str | Path,
    settings: CrawlSettings | None = None,
    *,
    progress: bool = True,
    **overrides: Any,
) -> CrawlResult:
    """Crawl *sites* (CSV/Parquet path or list of ``{url, id?, name?}``) into *out* (folder or fsspec URL).

    Keyword overrides are CrawlSettings fields (``max_pages=3``, ``proxy="http://127.0.0.1:8080"``).
    """
    import tomli_w

    from siteclass.crawling.pipeline import OutputStore

    started = time.monotonic()
    crawl_settings = _resolve(settings, overrides)
    if isinstance(sites, list):
        inputs = sites_from_records(sites)
    else:
        inputs = read_sites(sites, crawl_settings.url_column)
    out = str(out)
    store = OutputStore(out)
    store.write_text(tomli_w.dumps({"crawl": settings_dict(crawl_settings)}), "settings.toml")
    done = store.finished_site_ids()
    valid = [s for s in inputs if not s.error]
    todo = [s for s in valid if s.site_id not in done]
    invalid = [
        (pos, SiteRow(s.site_id, s.name, s.input_url, "", INVALID_INPUT, s.error, 0, 0.0))
        for pos, s in enumerate(inputs) if s.error
    ]
    order = {s.site_id: pos for pos, s in enumerate(inputs) if not s.error}
    error: str | None = None
    if todo:
        error = _run_worker(todo, out, crawl_settings, progress=progress, total=len(valid), done=len(valid) - len(todo))
    sites_table = store.merge(invalid, order)
    have = set(sites_table["site_id"].to_pylist())
    lost = [s for s in todo if s.site_id not in have]
    if lost and error is None:  # the worker ended well but some sites have no row: never a silent loss
        error = (f"{len(lost)} of {len(todo)} sites got no result row (the first: {lost[0].input_url}); the crawl "
                 "log says why (SITECLASS_CRAWL_LOG=FILE keeps it)")
    statuses = sites_table["status"].to_pylist()
    counts = dict(Counter(statuses))
    result = CrawlResult(
        out=out, n_sites=len(statuses), n_ok=counts.get(OK, 0), n_failed=len(statuses) - counts.get(OK, 0),
        n_pages=int(sum(sites_table["pages"].to_pylist())), elapsed_s=round(time.monotonic() - started, 3),
        status_counts=counts, n_crawled=len(todo),
    )
    if progress:
        _summary(result)
    if error:
        raise SiteclassError(f"{error}; finished sites are saved in {out}: re-run the same command to resume")
    return result


def _run_worker(todo: list[SiteInput], out: str, settings: CrawlSettings, *, progress: bool, total: int,
                done: int) -> str | None:
    """Run the worker; return an error sentence when it failed."""
    with tempfile.TemporaryDirectory(prefix="siteclass-crawl-") as tmp:
        sites_file = Path(tmp) / "sites.jsonl"
        with sites_file.open("w", encoding="utf-8") as fh:
            for s in todo:
                fh.write(json.dumps({"site_id": s.site_id, "name": s.name, "url": s.url, "input_url": s.input_url}) + "\n")
        settings_file = Path(tmp) / "settings.json"
        settings_file.write_text(settings.model_dump_json(), encoding="utf-8")
        # the worker's log (Scrapy's, at crawl.log_level); SITECLASS_CRAWL_LOG=FILE keeps it
        stderr_path = Path(os.environ.get("SITECLASS_CRAWL_LOG") or Path(tmp) / "stderr.log")
        env = {**os.environ, "SITECLASS_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "siteclass.crawling.worker", "--sites", str(sites_file), "--out", out,
               "--settings", str(settings_file)]
        with stderr_path.open("w", encoding="utf-8") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            try:
                _follow(proc.stdout, progress, total=total, done=done)
                code = proc.wait()
            except BaseException:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise
        if code != 0:
            tail = stderr_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            return f"the crawl worker stopped with exit code {code}: {' | '.join(tail)}"
    return None


def _follow(stream: IO[str] | None, progress: bool, *, total: int, done: int) -> None:
    """Read the worker's per-site JSON lines, with a progress bar (sites done/failed, pages/s) when asked."""
    if stream is None:
        return
    if not progress:
        for _ in stream:
            pass
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    ok = failed = pages = 0
    started = time.monotonic()
    columns = (TextColumn("crawl"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("", total=total, completed=done)
        for line in stream:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("status") == OK:
                ok += 1
            else:
                failed += 1
            pages += int(event.get("pages") or 0)
            rate = pages / max(time.monotonic() - started, 1e-6)
            bar.update(task, advance=1, description=f"ok {ok} · failed {failed} · {rate:.1f} pages/s")


def _summary(result: CrawlResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"siteclass crawl → {result.out}")
    table.add_column("status")
    table.add_column("sites", justify="right")
    for status, count in sorted(result.status_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(status, str(count))
    table.add_row("[bold]total[/bold]", f"[bold]{result.n_sites}[/bold]")
    console = Console(stderr=True)
    console.print(table)
    console.print(
        f"{result.n_pages} pages from {result.n_ok} ok sites; {result.n_crawled} sites crawled in this run, "
        f"{result.elapsed_s:.1f} s"
    )
