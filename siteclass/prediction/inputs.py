"""Inputs of ``siteclass predict`` that need no crawl: a table of descriptions (``--table``) and saved HTML files
(``--html``), read as a stream of (site, pages) for :meth:`BatchPredictor.write`; and the kept columns of a
sites file (``--sites FILE --keep COL,…``).

A table row is a site: its ``--text`` columns joined (the record a ``dataset build --table`` row gives), its id
(``--id``, else the row number from 1) and name (``--name``). An HTML input is a file, a folder or a glob: one
site per HTML file, or one site per folder of pages — a folder's pages are its HTML files (``.html``, ``.htm``,
``.xhtml``, ``.shtml``, sub-folders included), ``index.*`` at the top first, then by path. Pages go through the
crawl's own extraction (:func:`siteclass.crawling.extract.extract_page`). A file that cannot be read is a row with
a status, never a crash: ``unreadable`` (an OS error), ``empty`` (no bytes, or no text), ``not_html`` (binary,
or no markup).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from siteclass.config import DEFAULT_EXTRACTOR, Extractor
from siteclass.data.io import check_columns, iter_batches, table_columns, table_format
from siteclass.data.rows import join_texts
from siteclass.errors import InputError
from siteclass.prediction.batch import Kept
from siteclass.prediction.schema import PREDICTION_SCHEMA
from siteclass.records import site_record

Site = tuple[dict[str, Any], list[dict[str, str]]]
HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")
MAX_FILE_BYTES = 8 << 20  # bytes read of one HTML file (extraction reads at most 1.5M characters anyway)
_HOST = re.compile(r"^(?=.{4,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


def split_columns(value: str | list[str] | None) -> list[str]:
    """``"a, b"`` → ``["a", "b"]`` (a list passes through)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else value.split(",")
    return [c.strip() for c in items if c and c.strip()]


def _check_keep(keep: list[str], source: str) -> None:
    clash = [c for c in keep if c in PREDICTION_SCHEMA.names]
    if clash:
        raise InputError(f"--keep {', '.join(clash)}: the predictions of {source} already have a column of that "
                         f"name ({', '.join(PREDICTION_SCHEMA.names)}); rename it in the input")
    if len(set(keep)) != len(keep):
        raise InputError(f"--keep names a column twice: {', '.join(keep)}")


def _fields(path: str | Path, columns: list[str]) -> list[pa.Field]:
    """Arrow fields of *columns* of a table (Parquet: its schema; CSV/JSONL: the first batch's types)."""
    if not columns:
        return []
    for batch in iter_batches(path, columns, batch_rows=1024, csv_as_text=True):
        return [batch.schema.field(c) for c in columns]
    return [pa.field(c, pa.string()) for c in columns]


def sites_kept(path: str | Path, keep: list[str]) -> Kept:
    """The *keep* columns of a sites file (CSV cells as text), by site id as the crawl names them (the ``id`` or
    ``site_id`` column, else the row number from 1); the first row of an id wins (the crawl refuses the others)."""
    _check_keep(keep, str(path))
    present = table_columns(path)
    check_columns(path, present, keep)
    lowered = {c.strip().lower(): c for c in present}
    id_column = lowered.get("id") or lowered.get("site_id")
    columns = list(dict.fromkeys([*keep, *([id_column] if id_column else [])]))
    by_id: dict[str, dict[str, Any]] = {}
    number = 0
    for batch in iter_batches(path, columns, csv_as_text=True):
        cols = {c: batch.column(c).to_pylist() for c in columns}
        for i in range(batch.num_rows):
            number += 1
            raw = cols[id_column][i] if id_column else None
            site_id = str(raw).strip() if raw is not None and str(raw).strip() else str(number)
            by_id.setdefault(site_id, {c: cols[c][i] for c in keep})
    return Kept(_fields(path, keep), by_id)


# ------------------------------------------------------------------------------------------------------ tables
class TableInput:
    """A CSV / Parquet / JSONL table of descriptions: one site per row (see the module docstring)."""

    def __init__(self, path: str | Path, text: list[str], *, id_column: str | None = None,
                 name_column: str | None = None, keep: list[str] | None = None, batch_rows: int = 4096) -> None:
        if not text:
            raise InputError("--text is required with --table: name the text column(s), e.g. --text description")
        self.path = path
        self.text = text
        self.id_column = id_column
        self.name_column = name_column
        self.keep = keep or []
        self.batch_rows = batch_rows
        _check_keep(self.keep, str(path))
        table_format(path)  # an unknown extension fails before the file is opened
        present = table_columns(path)
        if not present:
            raise InputError(f"{path} has no rows; pass a table with a header and at least one row")
        named = [c for c in (id_column, name_column) if c]
        check_columns(path, present, [*text, *named, *self.keep])
        self.columns = list(dict.fromkeys([*text, *named, *self.keep]))

    def kept(self) -> Kept:
        return Kept(_fields(self.path, self.keep))

    def sites(self) -> Iterator[Site]:
        """(site, no pages) per row, in file order; the site carries its model ``record`` and kept values."""
        number = 0
        for batch in iter_batches(self.path, self.columns, self.batch_rows, csv_as_text=True):
            cols = {c: batch.column(c).to_pylist() for c in self.columns}
            for i in range(batch.num_rows):
                number += 1
                raw_id = cols[self.id_column][i] if self.id_column else None
                site_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else str(number)
                name = cols[self.name_column][i] if self.name_column else None
                name = "" if name is None else str(name)
                text = join_texts(cols[c][i] for c in self.text)
                site: dict[str, Any] = {"pos": number - 1, "site_id": site_id, "name": name,
                                        "status": "ok" if text else "empty",
                                        "keep": {c: cols[c][i] for c in self.keep}}
                if text:
                    site["record"] = {"name": name, "text": text}
                yield site, []
        if number == 0:
            raise InputError(f"{self.path} has no rows; pass a table with a header and at least one row")


# ------------------------------------------------------------------------------------------------------- HTML
def _is_html_name(path: Path) -> bool:
    return path.suffix.lower() in HTML_SUFFIXES


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _folder_pages(folder: Path) -> list[Path]:
    """The HTML files of a site folder: index.* at the top first, then by path (sub-folders included)."""
    files = [p for p in folder.rglob("*") if p.is_file() and _is_html_name(p)
             and all(_visible(part) for part in p.relative_to(folder).parts)]
    return sorted(files, key=lambda p: (not (p.parent == folder and p.stem.lower() == "index"),
                                        p.relative_to(folder).as_posix()))


def html_targets(spec: str | Path) -> list[Path]:
    """The sites of an ``--html`` argument: a file, a folder (each visible file and sub-folder of it) or a glob."""
    text = str(spec)
    path = Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        targets = sorted((p for p in path.iterdir() if _visible(p.name)), key=lambda p: p.name)
        if not targets:
            raise InputError(f"--html {text}: the folder is empty; pass HTML files, or folders of them")
        return targets
    if any(ch in text for ch in "*?["):
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
        if not matches:
            raise InputError(f"--html {text} matches no file; check the pattern")
        return matches
    raise InputError(f"--html {text} does not exist; pass an HTML file, a folder of them or a glob (quoted)")


def _host_of(path: Path) -> str:
    """A folder or file named like a host (``acme.com``, ``acme.com.html``) names the site's domain."""
    name = (path.name if path.is_dir() else path.stem).lower()
    return name if _HOST.match(name) else ""


class HtmlInput:
    """Saved HTML pages, one site per file or per folder (see the module docstring)."""

    def __init__(self, spec: str | Path, *, pages_per_site: int = 5, page_chars: int = 4000,
                 extractor: Extractor = DEFAULT_EXTRACTOR) -> None:
        self.spec = str(spec)
        self.targets = html_targets(spec)
        self.pages_per_site = pages_per_site
        self.page_chars = page_chars
        self.extractor: Extractor = extractor

    def _page(self, path: Path) -> tuple[str, dict[str, str] | None, str]:
        """(status, page, declared language) of one file."""
        from siteclass.crawling.extract import decode_html, extract_page

        try:
            with path.open("rb") as fh:
                body = fh.read(MAX_FILE_BYTES)
        except OSError:
            return "unreadable", None, ""
        if not body.strip():
            return "empty", None, ""
        head = body[:4096]
        if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "not_html", None, ""
        html = decode_html(body)
        if "<" not in html[:65536] or "\ufffd" * 8 in html[:4096]:
            return "not_html", None, ""
        content = extract_page(html, "", self.extractor)
        if not content.text.strip() and not content.title.strip():
            return "empty", None, content.lang
        page = {"url": str(path), "title": content.title, "text": content.text[: self.page_chars]}
        return "ok", page, content.lang

    def sites(self) -> Iterator[Site]:
        for pos, target in enumerate(self.targets):
            files = _folder_pages(target) if target.is_dir() else [target]
            host = _host_of(target)
            site: dict[str, Any] = {"pos": pos, "site_id": str(target), "name": "", "input_url": str(target),
                                    "final_url": f"http://{host}/" if host else ""}
            pages: list[dict[str, str]] = []
            statuses: list[str] = []
            for path in files:
                if len(pages) >= self.pages_per_site:
                    break
                status, page, lang = self._page(path)
                statuses.append(status)
                if page is not None:
                    pages.append(page)
                    if len(pages) == 1:
                        site["lang"] = lang
            site["status"] = "ok" if pages else (statuses[0] if statuses else "empty")
            if pages:
                site["record"] = site_record("", site["final_url"], pages)  # domain: the host's registered one
            yield site, pages


__all__ = ["HTML_SUFFIXES", "HtmlInput", "TableInput", "html_targets", "split_columns"]
