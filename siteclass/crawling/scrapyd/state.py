"""The Scrapyd scheduler's persisted state (``OUT/_scrapyd/state.json``) and the merge of the chunks' output.

Layout under OUT (a folder or an fsspec URL)::

    _scrapyd/state.json              chunks, their attempts, servers and job ids (rewritten on every change)
    _scrapyd/input/<chunk>-<n>.jsonl  the sites of attempt n of a chunk, read by the Scrapyd job
    _chunks/<chunk>-<n>/              what attempt n wrote (sites/pages/raw.parquet); removed after the merge
    sites.parquet pages.parquet raw.parquet settings.toml   the merged output, as a local crawl writes it
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tomli_w

from siteclass.config import CrawlSettings, Settings, settings_dict
from siteclass.crawling.items import (
    INVALID_INPUT,
    PAGE_SCHEMA,
    RAW_SCHEMA,
    SITE_SCHEMA,
    UNREACHABLE,
    SiteInput,
)
from siteclass.errors import InputError

STATE_VERSION = 1
IN_FLIGHT = ("submitted", "pending", "running")


def job_settings(crawl: CrawlSettings) -> dict[str, str]:
    """Scrapy ``-s`` settings that carry the resolved crawl settings into a Scrapyd job: the siteclass crawl
    settings (JSON) and every Scrapy setting whose value differs from the settings module's defaults."""
    from siteclass.crawling.scrapy_settings import SETTINGS_KEY, scrapy_settings

    if crawl.workers < 0:
        # Scrapyd runs several crawl processes per server already: each job processes its pages inline rather
        # than starting its own pool of worker processes (unless workers is set).
        crawl = crawl.model_copy(update={"workers": 0})
    wanted, defaults = scrapy_settings(crawl), scrapy_settings(CrawlSettings.model_validate({}))
    out = {
        key: _setting_text(value) for key, value in wanted.items()
        if key == SETTINGS_KEY or value != defaults.get(key)
    }
    out.pop("ADDONS", None)  # the egg's settings module (scrapyd_job) sets the add-ons
    return out


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value)
    return "" if value is None else str(value)


@dataclass
class SiteList:
    """The input rows in order; only the valid ones are crawled."""

    rows: list[SiteInput]

    @classmethod
    def read(cls, sites: str | Path | list[dict[str, Any]], url_column: str = "url") -> SiteList:
        """A CSV/Parquet file with a URL column, or records ``{url, id?, name?}`` like a local crawl takes."""
        from siteclass.crawling.runner import read_sites, sites_from_records

        if isinstance(sites, list):
            return cls(sites_from_records(sites))
        return cls(list(read_sites(sites, url_column)))  # duplicate ids come back as invalid rows

    @property
    def valid(self) -> list[SiteInput]:
        return [r for r in self.rows if not r.error]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for r in self.rows:
            digest.update(json.dumps([r.site_id, r.name, r.input_url, r.url, r.error]).encode())
        return digest.hexdigest()


@dataclass
class Chunk:
    id: str
    start: int  # slice of SiteList.valid
    end: int
    state: str = "todo"  # todo → submitted → pending → running → done | failed
    attempt: int = 0
    server: str | None = None
    job: str | None = None
    todo: list[str] | None = None  # site ids of the next/current attempt; None: the whole chunk
    failures: int = 0
    losses: int = 0
    error: str = ""
    servers: list[str] = field(default_factory=list)  # the server of each attempt


@dataclass
class ChunkStore:
    fs: Any
    root: str
    fingerprint: str
    run_id: str
    chunks: list[Chunk]
    site_ids: list[str]  # valid site ids, in order
    sites_by_id: dict[str, SiteInput]
    version: str = ""
    merged: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False

    # ----- open / save -----

    @classmethod
    def open(
        cls, out: str, sites: SiteList, chunk_size: int, project: str, crawl: CrawlSettings
    ) -> ChunkStore:
        import fsspec

        fs, root = fsspec.core.url_to_fs(out)
        root = root.rstrip("/")
        valid = sites.valid
        crawl_json = json.dumps(settings_dict(crawl), sort_keys=True)
        fingerprint = hashlib.sha256(
            f"{sites.fingerprint()}|{chunk_size}|{project}|{crawl_json}".encode()
        ).hexdigest()
        store = cls(
            fs=fs, root=root, fingerprint=fingerprint, run_id=uuid.uuid4().hex[:8], chunks=[],
            site_ids=[s.site_id for s in valid], sites_by_id={s.site_id: s for s in valid},
        )
        if fs.exists(store.state_path):
            data = json.loads(fs.cat_file(store.state_path))
            if data.get("fingerprint") != fingerprint:
                raise InputError(
                    f"{out} holds a Scrapyd crawl of other sites or settings ({store.state_path}); "
                    "pass a new --out, or delete that folder to start over"
                )
            store.run_id = data["run_id"]
            store.version = data.get("version", "")
            store.merged = bool(data.get("merged"))
            store.summary = data.get("summary", {})
            store.chunks = [Chunk(**c) for c in data["chunks"]]
            store.resumed = True
        else:
            store.chunks = [
                Chunk(id=f"c{i // chunk_size:06d}", start=i, end=min(i + chunk_size, len(valid)))
                for i in range(0, len(valid), chunk_size)
            ]
            store.save()
        return store

    @property
    def state_path(self) -> str:
        return f"{self.root}/_scrapyd/state.json"

    def save(self) -> None:
        data = {
            "state_version": STATE_VERSION, "fingerprint": self.fingerprint, "run_id": self.run_id,
            "version": self.version, "merged": self.merged, "summary": self.summary,
            "chunks": [asdict(c) for c in self.chunks],
        }
        self.fs.makedirs(f"{self.root}/_scrapyd", exist_ok=True)
        tmp = f"{self.state_path}.tmp"
        self.fs.pipe_file(tmp, json.dumps(data, separators=(",", ":")).encode())
        self.fs.mv(tmp, self.state_path)

    def set_version(self, version: str) -> None:
        self.version = version
        self.save()

    # ----- chunk bookkeeping -----

    def chunk_sites(self, chunk: Chunk) -> list[str]:
        return self.site_ids[chunk.start:chunk.end]

    def attempt_dir(self, chunk: Chunk, n: int) -> str:
        return f"{self.root}/_chunks/{chunk.id}-{n}"

    def job_id(self, chunk: Chunk) -> str:
        return f"{self.run_id}-{chunk.id}-{chunk.attempt}"

    def in_flight(self, url: str) -> list[Chunk]:
        return [c for c in self.chunks if c.state in IN_FLIGHT and c.server == url]

    def in_flight_elsewhere(self, urls: list[str]) -> list[Chunk]:
        return [c for c in self.chunks if c.state in IN_FLIGHT and c.server not in urls]

    def to_submit(self) -> list[Chunk]:
        return [c for c in self.chunks if c.state == "todo"]

    def prepare_attempt(self, chunk: Chunk, url: str) -> dict[str, str]:
        """Write the next attempt's site list, record it as submitted to *url* (saved), return the spider args."""
        chunk.attempt += 1
        ids = chunk.todo if chunk.todo is not None else self.chunk_sites(chunk)
        path = f"{self.root}/_scrapyd/input/{chunk.id}-{chunk.attempt}.jsonl"
        lines = []
        for site_id in ids:
            s = self.sites_by_id[site_id]
            lines.append(json.dumps({"site_id": s.site_id, "name": s.name, "url": s.url, "input_url": s.input_url}))
        self.fs.makedirs(f"{self.root}/_scrapyd/input", exist_ok=True)
        self.fs.pipe_file(path, ("\n".join(lines) + "\n").encode())
        chunk.state, chunk.server, chunk.job = "submitted", url, self.job_id(chunk)
        chunk.servers.append(url)
        self.save()
        return {"sites": self._url(path), "out": self._url(self.attempt_dir(chunk, chunk.attempt))}

    def unsubmit(self, chunk: Chunk) -> None:
        chunk.state, chunk.server, chunk.job = "todo", None, None
        chunk.servers.pop()
        self.save()

    def _url(self, path: str) -> str:
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return path if protocol in ("file", "local") else f"{protocol}://{path}"

    def _done_ids(self, chunk: Chunk) -> set[str]:
        done: set[str] = set()
        for n in range(1, chunk.attempt + 1):
            for sites_path, _, _ in _sources(self._url(self.attempt_dir(chunk, n))):
                table = _read(sites_path, columns=["site_id"])
                if table is not None:
                    done.update(table.column("site_id").to_pylist())
        return done

    def missing_sites(self, chunk: Chunk) -> list[str]:
        done = self._done_ids(chunk)
        return [s for s in self.chunk_sites(chunk) if s not in done]

    def mark_done(self, chunk: Chunk) -> None:
        chunk.state, chunk.todo, chunk.error = "done", None, ""

    def fail(self, chunk: Chunk, missing: list[str], reason: str, retries: int, lost_retries: int) -> None:
        chunk.failures += 1
        chunk.todo, chunk.error = missing, f"{reason} (job {chunk.job} on {chunk.server})"
        chunk.state = "todo" if chunk.failures <= retries else "failed"

    def lose(self, chunk: Chunk, missing: list[str], reason: str, retries: int, lost_retries: int) -> None:
        chunk.losses += 1
        if chunk.losses > lost_retries:
            self.fail(chunk, missing, reason, retries, lost_retries)
            return
        chunk.todo, chunk.error, chunk.state = missing, f"{reason} (job {chunk.job} on {chunk.server})", "todo"

    def finished(self) -> bool:
        return all(c.state in ("done", "failed") for c in self.chunks)

    def sites_done(self) -> int:
        return sum(c.end - c.start for c in self.chunks if c.state in ("done", "failed"))

    @property
    def sites_total(self) -> int:
        return len(self.site_ids)

    def failures(self) -> int:
        return sum(c.failures + c.losses for c in self.chunks)

    # ----- merge -----

    def merge(self, sites: SiteList, settings: Settings, keep_chunks: bool) -> None:
        """Write OUT/sites.parquet (one row per input, in input order), pages.parquet, raw.parquet."""
        taken: set[str] = set()
        site_tables: list[pa.Table] = []
        reasons: dict[str, str] = {}
        n_pages = 0
        with self._writer("pages.parquet", PAGE_SCHEMA) as pages_w, self._writer("raw.parquet", RAW_SCHEMA) as raw_w:
            for chunk in self.chunks:
                wanted = set(self.chunk_sites(chunk))
                if chunk.state == "failed":
                    reasons.update(dict.fromkeys(wanted, chunk.error))
                for n in range(1, chunk.attempt + 1):
                    n_pages += self._merge_attempt(
                        self.attempt_dir(chunk, n), wanted, taken, site_tables, pages_w, raw_w
                    )
        extra, extra_at = [], []
        for i, s in enumerate(sites.rows):
            if s.error:
                extra.append(_site_row(s, INVALID_INPUT, s.error))
            elif s.site_id not in taken:
                reason = reasons.get(s.site_id) or "its jobs wrote no row for the site"
                extra.append(_site_row(s, UNREACHABLE, f"scrapyd job failed: {reason}"))
            else:
                continue
            extra_at.append(i)
        position = {s.site_id: i for i, s in enumerate(sites.rows) if not s.error}
        keys = [position[sid] for t in site_tables for sid in t.column("site_id").to_pylist()] + extra_at
        table = pa.concat_tables([*site_tables, pa.Table.from_pylist(extra, schema=SITE_SCHEMA)])
        table = table.take(pa.array(sorted(range(len(keys)), key=keys.__getitem__), type=pa.int64()))
        pq.write_table(table, f"{self.root}/sites.parquet", filesystem=self.fs)
        self._write_settings(settings)
        statuses = pc.value_counts(table.column("status")).to_pylist()
        self.summary = {
            "sites": table.num_rows, "pages": n_pages, "crawled": len(taken),
            "statuses": {d["values"]: d["counts"] for d in statuses},
            "failed_chunks": sum(1 for c in self.chunks if c.state == "failed"),
        }
        self.merged = True
        self.save()
        if not keep_chunks:
            self.remove_chunks()

    def remove_chunks(self) -> None:
        """Delete OUT/_chunks (the merged files hold everything in it)."""
        if self.fs.exists(f"{self.root}/_chunks"):
            self.fs.rm(f"{self.root}/_chunks", recursive=True)

    def _merge_attempt(
        self, directory: str, wanted: set[str], taken: set[str], site_tables: list[pa.Table],
        pages_w: pq.ParquetWriter, raw_w: pq.ParquetWriter,
    ) -> int:
        """Take the rows of sites not taken yet from one attempt's output (merged files and committed parts)."""
        n_pages = 0
        for sites_path, pages_path, raw_path in _sources(self._url(directory)):
            table = _read(sites_path)
            if table is None:
                continue
            mask = []
            new: set[str] = set()
            for sid in table.column("site_id").to_pylist():
                fresh = sid in wanted and sid not in taken and sid not in new
                mask.append(fresh)
                if fresh:
                    new.add(sid)
            if not new:
                continue
            taken.update(new)
            site_tables.append(table.filter(pa.array(mask, pa.bool_())).select(SITE_SCHEMA.names).cast(SITE_SCHEMA))
            keep = pa.array(sorted(new), type=pa.string())
            for path, writer, schema in ((pages_path, pages_w, PAGE_SCHEMA), (raw_path, raw_w, RAW_SCHEMA)):
                data = _read(path)
                if data is None:
                    continue
                data = data.filter(pc.is_in(data.column("site_id"), value_set=keep))
                writer.write_table(data.select(schema.names).cast(schema))
                if schema is PAGE_SCHEMA:
                    n_pages += data.num_rows
        return n_pages

    def _writer(self, name: str, schema: pa.Schema) -> pq.ParquetWriter:
        return pq.ParquetWriter(f"{self.root}/{name}", schema, filesystem=self.fs)

    def _write_settings(self, settings: Settings) -> None:
        data = {"crawl": settings_dict(settings.crawl), "scrapyd": settings_dict(settings.scrapyd)}
        self.fs.pipe_file(f"{self.root}/settings.toml", tomli_w.dumps(data).encode())


def _sources(out: str) -> list[tuple[str, str, str]]:
    """(sites, pages, raw) file URLs of what a job wrote under *out*: merged files, then committed parts."""
    from siteclass.crawling.pipeline import PARTS, OutputStore

    store = OutputStore(out)
    found = []
    if store.exists("sites.parquet"):
        found.append(tuple(store.path(f"{n}.parquet") for n in ("sites", "pages", "raw")))
    try:
        parts = store.part_ids()
    except OSError:
        parts = []
    for part in parts:
        found.append(tuple(store.path(PARTS, f"{part}.{n}.parquet") for n in ("sites", "pages", "raw")))
    return [(_join(store, a), _join(store, b), _join(store, c)) for a, b, c in found]


def _join(store: Any, path: str) -> str:
    protocol = store.fs.protocol if isinstance(store.fs.protocol, str) else store.fs.protocol[0]
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def _read(url: str, columns: list[str] | None = None) -> pa.Table | None:
    """A Parquet file, or None when it is absent or unreadable (a job still writing, a part being merged)."""
    import fsspec

    try:
        with fsspec.open(url, "rb") as fh:
            return pq.read_table(fh, columns=columns)
    except (OSError, pa.ArrowException):
        return None


def _site_row(s: SiteInput, status: str, error: str) -> dict[str, Any]:
    return {
        "site_id": s.site_id, "name": s.name, "input_url": s.input_url, "final_url": "", "status": status,
        "error": error, "pages": 0, "elapsed_s": 0.0,
    }
