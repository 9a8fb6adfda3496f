"""Overrides that stick: a hand-made file fixing the answer for some sites, whatever the model says.

File (CSV, Parquet or JSONL; one row per site), either form, or both in one file (one key per row)::

    domain,label[,note]        acme.com,Dentists,checked by hand 2026-03
    site_id,label[,note]       s0042,Plumbing,

A ``domain`` value is reduced to its registered domain (offline public-suffix list, as everywhere in
siteclass), so ``www.acme.com``, ``https://shop.acme.com/about`` and ``acme.com`` are the same override and match
every URL of that registered domain (``www.`` and sub-pages included). A ``site_id`` matches that site id only,
and wins over a domain override. A label the model does not know is allowed (teams add classes by hand): it is
named in an ``OverridesWarning`` at load when the model's classes are given. Empty or header-only files, a
missing column, an empty label or key, and a key given twice are ``InputError`` naming the file and the row.

API (what predict, serve and Spark predict call)::

    from siteclass.labels.overrides import Overrides, OverridesFile, load_overrides

    ov = load_overrides("overrides.csv", classes=model.classes_)   # Overrides; warns on unknown labels
    hit = ov.lookup(site_id="s0042", url="https://www.acme.com/")  # Override | None
    hit.prediction()        # {"label", "probability": 1.0, "labels": [label], "probabilities": [1.0],
                            #  "source": "override", "note"}
    rows = ov.apply_rows(rows)    # prediction dicts → same dicts with "source" ("model"|"override") and "note"
    table = ov.apply_table(table) # predictions Arrow table → same columns + "source", "note"
    ov.info()               # {"path", "sha256", "count", "site_ids", "domains"} for /v1/model

    watched = OverridesFile("overrides.csv", classes=model.classes_)   # for a running server
    watched.current()       # the Overrides, re-read when the file's mtime (or size, inode) changed; a file
                            # that became invalid keeps the last good overrides (``last_error`` says why)

An overridden row keeps its ``site_id``, ``url`` and ``status`` (a site whose crawl failed is overridden too);
its ``label`` is the override, ``probability`` 1.0, ``labels``/``probabilities`` the override alone.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from siteclass.errors import InputError

SOURCE_MODEL = "model"
SOURCE_OVERRIDE = "override"
KEY_COLUMNS = ("site_id", "domain")


class OverridesWarning(UserWarning):
    """An overrides file names labels the model does not know (allowed; said once at load)."""


@dataclass(frozen=True)
class Override:
    """One override: the label and note to answer with, and the key it is filed under."""

    label: str
    note: str
    key: str
    kind: str  # "site_id" or "domain"
    row: int  # row in the file, from 1

    def prediction(self) -> dict[str, Any]:
        """The answer for an overridden site, in the predictions' field names."""
        return {"label": self.label, "probability": 1.0, "labels": [self.label], "probabilities": [1.0],
                "source": SOURCE_OVERRIDE, "note": self.note, "naics_code": None, "naics_title": None}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _domain_key(value: str) -> str:
    """Registered domain of a domain/host/URL value; '' when it has none (empty, unparsable, a public suffix)."""
    from siteclass.crawling.urls import host_of
    from siteclass.data.domains import registered_domain

    reg = registered_domain(value)
    host = host_of(value) if value else ""
    if not reg or (reg == host and "." in host and _is_public_suffix(host)):
        return ""
    return reg


def _is_public_suffix(host: str) -> bool:
    from siteclass.crawling.urls import _extractor

    ext = _extractor()(host)
    return not ext.domain and bool(ext.suffix)


class Overrides:
    """Overrides by site id and by registered domain; build with :meth:`load` or :func:`load_overrides`."""

    def __init__(self, by_site_id: dict[str, Override], by_domain: dict[str, Override], path: str = "",
                 sha256: str = "") -> None:
        self.by_site_id = by_site_id
        self.by_domain = by_domain
        self.path = path
        self.sha256 = sha256
        self.unknown: list[str] = []

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, classes: Iterable[str] | None = None) -> Overrides:
        """Read an overrides file; with *classes* (the model's labels), warn naming the labels it does not know."""
        from siteclass.labels.tables import columns_of, read_rows, row_name, text_column

        p = Path(path)
        if not p.is_file():
            raise InputError(f"overrides file {p} does not exist; pass a CSV/Parquet/JSONL with domain or site_id, "
                             f"label[, note]")
        sha = _sha256(p)
        present = columns_of(p, ["label"], "an overrides file")
        keys = [c for c in KEY_COLUMNS if c in present]
        if not keys:
            raise InputError(f"{p} has no column 'domain' or 'site_id'; an overrides file needs domain,label[,note] "
                             f"or site_id,label[,note] (columns present: {', '.join(present)})")
        note_col = ["note"] if "note" in present else []
        table = read_rows(p, [*keys, "label", *note_col], "an overrides file")
        labels = text_column(table, "label", p).to_pylist()
        notes = text_column(table, "note", p, required=False).to_pylist() if note_col else [""] * len(labels)
        values = {k: text_column(table, k, p, required=False).to_pylist() for k in keys}
        by_site: dict[str, Override] = {}
        by_domain: dict[str, Override] = {}
        for i, label in enumerate(labels):
            row = i + 1
            sid = values["site_id"][i] if "site_id" in values else None
            dom = values["domain"][i] if "domain" in values else None
            if sid and dom:
                raise InputError(f"{p}, {row_name(p, row)}: both 'site_id' and 'domain' are given; give one key per "
                                 f"row")
            if not sid and not dom:
                raise InputError(f"{p}, {row_name(p, row)}: column {' or '.join(repr(k) for k in keys)} is empty; "
                                 f"give the site to override, or remove the row")
            if sid:
                kind, key, target = "site_id", sid, by_site
            else:
                kind, key, target = "domain", _domain_key(str(dom)), by_domain
                if not key:
                    raise InputError(f"{p}, {row_name(p, row)}: domain {dom!r} has no registered domain; give one "
                                     f"such as acme.com")
            if key in target:
                raise InputError(f"{p}: {kind} {key!r} is overridden twice ({row_name(p, target[key].row)} and "
                                 f"{row_name(p, row)}); keep one row per {kind}")
            target[key] = Override(str(label), str(notes[i] or ""), key, kind, row)
        out = cls(by_site, by_domain, str(p), sha)
        if classes is not None:
            out.check_classes(classes)
        return out

    def check_classes(self, classes: Iterable[str]) -> list[str]:
        """The override labels not in *classes*, sorted; named in an OverridesWarning when there are any."""
        self.unknown = self.unknown_labels(classes)
        if self.unknown:
            warnings.warn(f"{self.path or 'overrides'}: {len(self.unknown)} label(s) the model does not know: "
                          f"{', '.join(self.unknown)}; they are answered as given", OverridesWarning, stacklevel=3)
        return self.unknown

    def unknown_labels(self, classes: Iterable[str]) -> list[str]:
        known = set(classes)
        return sorted({o.label for o in self} - known)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.by_site_id) + len(self.by_domain)

    def __iter__(self) -> Any:
        yield from self.by_site_id.values()
        yield from self.by_domain.values()

    @property
    def count(self) -> int:
        return len(self)

    def lookup(self, site_id: str | None = None, url: str | None = None,
               domain: str | None = None) -> Override | None:
        """The override of a site: by *site_id* first, then by the registered domain of *url* or *domain*."""
        if site_id is not None and self.by_site_id:
            hit = self.by_site_id.get(str(site_id).strip())
            if hit is not None:
                return hit
        if self.by_domain:
            for value in (url, domain):
                if value:
                    hit = self._by_host(str(value))
                    if hit is not None:
                        return hit
        return None

    def _by_host(self, value: str) -> Override | None:
        from siteclass.crawling.urls import host_of

        try:
            host = host_of(value)
        except ValueError:
            return None
        parts = host.split(".")
        for i in range(len(parts)):  # longest candidate first; a hit is checked against the registered domain
            hit = self.by_domain.get(".".join(parts[i:]))
            if hit is not None:
                return hit if _domain_key(host) == hit.key else None
        return None

    # ------------------------------------------------------------------ applying
    def apply_rows(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Prediction dicts (``site_id``, ``url``[, ``domain``] …) → copies with the overrides applied and
        ``source`` (``model``/``override``) and ``note`` set (a model row keeps its own note: why it is unknown)."""
        out = []
        for row in rows:
            hit = self.lookup(row.get("site_id"), row.get("url"), row.get("domain"))
            new = dict(row)
            if hit is None:
                new["source"] = SOURCE_MODEL
                new["note"] = row.get("note") if row.get("source") == SOURCE_MODEL else None
            else:
                new.update(hit.prediction())
            out.append(new)
        return out

    def apply_table(self, table: pa.Table) -> pa.Table:
        """A predictions table (``site_id``, ``url``, ``label``, ``probability``, ``labels``, ``probabilities``)
        with the overrides applied and two columns added: ``source`` (``model``/``override``) and ``note``."""
        n = table.num_rows
        sids = table.column("site_id").to_pylist() if "site_id" in table.column_names else [None] * n
        urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * n
        doms = table.column("domain").to_pylist() if "domain" in table.column_names else [None] * n
        hits = [self.lookup(s, u, d) for s, u, d in zip(sids, urls, doms)] if len(self) else [None] * n
        mask = pa.array([h is not None for h in hits], pa.bool_())
        cols = {name: table.column(name) for name in table.column_names}
        if "label" in cols:
            cols["label"] = pc.if_else(mask, pa.array([h.label if h else None for h in hits], pa.string()),
                                       cols["label"])
        if "probability" in cols:
            cols["probability"] = pc.if_else(mask, pa.scalar(1.0, cols["probability"].type), cols["probability"])
        for name, value in (("labels", lambda h: [h.label]), ("probabilities", lambda h: [1.0])):
            if name in cols:
                col = cols[name]
                cols[name] = pc.if_else(mask, pa.array([value(h) if h else None for h in hits], col.type), col)
        for name in ("naics_code", "naics_title"):  # an override's answer has no finer code
            if name in cols:
                cols[name] = pc.if_else(mask, pa.scalar(None, cols[name].type), cols[name])
        old_notes = cols["note"].to_pylist() if "note" in cols else [None] * n
        old_sources = cols["source"].to_pylist() if "source" in cols else [None] * n
        cols["source"] = pc.if_else(mask, SOURCE_OVERRIDE, SOURCE_MODEL)
        cols["note"] = pa.array([h.note if h else (note if source == SOURCE_MODEL else None)
                                 for h, note, source in zip(hits, old_notes, old_sources)], pa.string())
        return pa.table(cols)

    def info(self) -> dict[str, Any]:
        """What ``/v1/model`` reports: the file, its sha256 and how many overrides are loaded."""
        return {"path": self.path, "sha256": self.sha256, "count": len(self), "site_ids": len(self.by_site_id),
                "domains": len(self.by_domain)}


def load_overrides(path: str | Path, classes: Iterable[str] | None = None) -> Overrides:
    """Read an overrides file (see the module docstring); warns naming labels missing from *classes*."""
    return Overrides.load(path, classes)


class OverridesFile:
    """An overrides file a long-running process keeps current: :meth:`current` re-reads it when its mtime (or
    size, or inode: a file replaced by a rename) changed since the last read. A change that makes the file invalid
    or removes it keeps the last good overrides, warns once and sets ``last_error``; the first read must succeed."""

    def __init__(self, path: str | Path, classes: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.classes = list(classes) if classes is not None else None
        self.last_error: str | None = None
        self.reloads = 0
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._overrides = Overrides.load(self.path, self.classes)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> Overrides:
        """The overrides as the file is now (one ``stat`` per call; a re-read only after a change)."""
        stamp = self._stat()
        if stamp == self._stamp:
            return self._overrides
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    if stamp is None:
                        raise InputError(f"overrides file {self.path} is gone; keeping the {len(self._overrides)} "
                                         f"overrides loaded before")
                    self._overrides = Overrides.load(self.path, self.classes)
                    self.reloads += 1
                    self.last_error = None
                except InputError as exc:
                    self.last_error = str(exc)
                    warnings.warn(f"overrides not reloaded: {exc}", OverridesWarning, stacklevel=2)
            return self._overrides

    def info(self) -> dict[str, Any]:
        """:meth:`Overrides.info` of the current overrides, with ``reloads`` and ``last_error``."""
        return {**self.current().info(), "reloads": self.reloads, "last_error": self.last_error}
