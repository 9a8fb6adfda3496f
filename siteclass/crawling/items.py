"""Rows the crawl writes (see docs/architecture.md, 'Crawl output') and their Arrow schemas."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

# Site statuses: exactly one per input row.
OK = "ok"
INVALID_INPUT = "invalid_input"
DNS_ERROR = "dns_error"
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
HTTP_ERROR = "http_error"
BLOCKED_BY_ROBOTS = "blocked_by_robots"
NOT_HTML = "not_html"
TOO_LARGE = "too_large"
REDIRECT_LOOP = "redirect_loop"
EMPTY = "empty"
SITE_STATUSES = (
    OK, INVALID_INPUT, DNS_ERROR, UNREACHABLE, TIMEOUT, HTTP_ERROR, BLOCKED_BY_ROBOTS, NOT_HTML, TOO_LARGE,
    REDIRECT_LOOP, EMPTY,
)

SITE_SCHEMA = pa.schema([
    ("site_id", pa.string()), ("name", pa.string()), ("input_url", pa.string()), ("final_url", pa.string()),
    ("status", pa.string()), ("error", pa.string()), ("pages", pa.int32()), ("elapsed_s", pa.float64()),
])
PAGE_SCHEMA = pa.schema([
    ("site_id", pa.string()), ("input_url", pa.string()), ("url", pa.string()), ("domain", pa.string()),
    ("path", pa.string()), ("depth", pa.int16()), ("rank", pa.int16()), ("order", pa.int16()),
    ("click_text", pa.string()), ("title", pa.string()), ("meta_description", pa.string()), ("lang", pa.string()),
    ("text", pa.string()), ("status", pa.int16()), ("content_type", pa.string()), ("bytes", pa.int64()),
    ("fetched_at", pa.timestamp("us", tz="UTC")),
])
RAW_SCHEMA = pa.schema([("site_id", pa.string()), ("url", pa.string()), ("html", pa.string())])


@dataclass
class SiteInput:
    """One input row: ``url`` normalised when valid; ``error`` set when the row is invalid."""

    site_id: str
    name: str
    input_url: str
    url: str = ""
    error: str = ""


@dataclass
class SiteRow:
    site_id: str
    name: str
    input_url: str
    final_url: str
    status: str
    error: str
    pages: int
    elapsed_s: float


@dataclass
class PageRow:
    site_id: str
    input_url: str
    url: str
    domain: str
    path: str
    depth: int
    rank: int
    order: int
    click_text: str
    title: str
    meta_description: str
    lang: str
    text: str
    status: int
    content_type: str
    bytes: int
    fetched_at: datetime


@dataclass
class RawRow:
    site_id: str
    url: str
    html: str


@dataclass
class SiteResult:
    """What the spider hands the pipeline when a site is finished."""

    site: SiteRow
    pages: list[PageRow] = field(default_factory=list)
    raw: list[RawRow] = field(default_factory=list)


def to_table(rows: list[Any], schema: pa.Schema) -> pa.Table:
    """Dataclass rows → an Arrow table with exactly *schema*."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        values = asdict(row) if not isinstance(row, dict) else row
        for name in schema.names:
            columns[name].append(values[name])
    return pa.table(columns, schema=schema)
