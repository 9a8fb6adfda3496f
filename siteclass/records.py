"""The record: what every model reads, and the one place that builds it from a crawled site.

A *record* is a dict with any of ``text``, ``name``, ``domain``, ``url``, ``ext`` (domain extension) and ``pages``
(a list of ``{"url", "title", "text"}``, in crawl order); a plain string is a record with only ``text``. A dataset
row is a record. :func:`site_record` builds one from a crawled or posted site — batch predict, the HTTP server and
Spark predict all call it, so what a model sees at serving time is what it saw in training.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from siteclass.errors import InputError

Record = dict[str, Any]
EXTENSIONS = ("biz", "co", "com", "edu", "gov", "info", "net", "org", "site", "us")
"""Domain extensions a model tells apart (one-hot in the transformer); every other one is ``other``."""


def as_records(X: Any) -> list[Record]:
    """Normalise model input to a list of record dicts (str, dict, list of either, DataFrame, Arrow table)."""
    if isinstance(X, str | Mapping):
        X = [X]
    if hasattr(X, "to_pylist"):  # pyarrow Table / RecordBatch
        X = X.to_pylist()
    elif hasattr(X, "to_dicts"):  # polars
        X = X.to_dicts()
    elif hasattr(X, "to_dict") and hasattr(X, "columns"):  # pandas
        X = X.to_dict("records")
    out: list[Record] = []
    for i, x in enumerate(X):
        if isinstance(x, str):
            out.append({"text": x})
        elif isinstance(x, Mapping):
            out.append(dict(x))
        else:
            raise InputError(f"record {i} is a {type(x).__name__}; pass a string or a dict with a 'text' key")
    return out


_SPLIT_DOMAIN = re.compile(r"[.\-_]+")


def domain_words(domain: str | None) -> str:
    """``"acme-plumbing.co.uk"`` → ``"acme plumbing co uk"``."""
    return " ".join(p for p in _SPLIT_DOMAIN.split(domain or "") if p)


def _page_list(record: Record) -> list[Mapping[str, Any]]:
    pages = record.get("pages")
    if pages is None:
        return []
    if hasattr(pages, "tolist"):
        pages = pages.tolist()
    return [p for p in pages if isinstance(p, Mapping)]


def record_text(record: Record, max_pages: int = 5, page_chars: int | None = None) -> str:
    """One text per record for bag-of-words models: name, domain words, then each page's title and text.

    A record without pages gives its ``text`` (after the name and domain words, when present).
    """
    parts: list[str] = []
    for key in ("name",):
        v = record.get(key)
        if isinstance(v, str) and v:
            parts.append(v)
    if record.get("domain"):
        parts.append(domain_words(str(record["domain"])))
    pages = _page_list(record)[:max_pages]
    if pages:
        for p in pages:
            title, text = p.get("title") or "", p.get("text") or ""
            if page_chars is not None:
                text = text[:page_chars]
            parts.extend(s for s in (title, text) if s)
    elif isinstance(record.get("text"), str):
        parts.append(record["text"])
    return "\n".join(parts)


def _host(value: str) -> str:
    return value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower().rstrip(".")


def domain_extension(domain: str | None) -> str:
    """The last label of a domain (or URL) when it is one of :data:`EXTENSIONS`, else ``other``."""
    host = _host(str(domain or ""))
    last = host.rsplit(".", 1)[-1] if "." in host else ""
    return last if last in EXTENSIONS else "other"


def record_ext(record: Record) -> str:
    """The domain extension of a record: ``ext`` when given, else that of its ``domain``/``url``."""
    ext = str(record.get("ext") or "").lower().lstrip(".")
    if ext:
        return ext if ext in EXTENSIONS else "other"
    return domain_extension(str(record.get("domain") or record.get("url") or ""))


def site_record(name: str | None, url: str, pages: list[dict[str, str]], domain: str | None = None) -> Record:
    """The model input for one site: the keys the dataset builder writes (name, domain, url, ext, pages).

    *domain* defaults to the registered domain of *url* (``https://www.shop.acme.co.uk/`` → ``acme.co.uk``).
    """
    if not domain and url:
        from siteclass.crawling.urls import registered_domain

        try:
            domain = registered_domain(url)
        except ValueError:  # an unparsable URL: no domain rather than a crash
            domain = ""
    domain = domain or ""
    return {"name": name or "", "url": url, "domain": domain, "ext": domain_extension(domain), "pages": pages}
