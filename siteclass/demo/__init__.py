"""The embedded demo corpus: small fictional business websites as static files, with a list and labels.

Everything here is invented: business names, domains, towns and people. ``_generate.py`` rebuilds it.
``web`` serves these sites (or any folder of sites, or Python routes) offline through ``LocalWeb``, a forward
proxy: ``siteclass quickstart``, the tests and the benchmarks crawl it.
"""

from __future__ import annotations

import csv
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
SITES_DIR = DEMO_DIR / "sites"


def sites_csv() -> Path:
    """``sites.csv`` with columns ``id,name,url`` (some URLs are bare host names without a scheme)."""
    return DEMO_DIR / "sites.csv"


def labels_csv() -> Path:
    """``labels.csv`` with columns ``id,url,label`` (label: industry in snake_case, e.g. ``dental_clinic``)."""
    return DEMO_DIR / "labels.csv"


def missing_links_csv() -> Path:
    """``missing_links.csv`` (``host,path``): links in the corpus that deliberately have no file (404s)."""
    return DEMO_DIR / "missing_links.csv"


def site_hosts() -> list[str]:
    """Host names of all demo sites (one folder each under ``SITES_DIR``), sorted."""
    return sorted(p.name for p in SITES_DIR.iterdir() if p.is_dir())


def url_path(relative: str) -> str:
    """The URL path a file (relative to its site folder, '/'-separated) is served at.

    ``index.html`` → ``/``; ``about.html`` and ``about/index.html`` → ``/about``; other files keep their name
    (``robots.txt`` → ``/robots.txt``, ``downloads/rate-sheet.pdf`` → ``/downloads/rate-sheet.pdf``).
    """
    if relative == "index.html":
        return "/"
    if relative.endswith("/index.html"):
        return "/" + relative[: -len("/index.html")]
    if relative.endswith(".html"):
        return "/" + relative[: -len(".html")]
    return "/" + relative


def site_files(host: str) -> dict[str, Path]:
    """URL path → file for one demo site, e.g. ``{"/": …/index.html, "/about": …/about.html}``."""
    root = SITES_DIR / host
    if not root.is_dir():
        raise KeyError(f"no demo site {host!r} under {SITES_DIR}")
    return {url_path(p.relative_to(root).as_posix()): p for p in sorted(root.rglob("*")) if p.is_file()}


def missing_links() -> set[tuple[str, str]]:
    """(host, path) pairs that are linked in the corpus but deliberately have no file."""
    with missing_links_csv().open(newline="", encoding="utf-8") as f:
        return {(r["host"], r["path"]) for r in csv.DictReader(f)}
