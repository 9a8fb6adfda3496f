"""Checks on the embedded demo corpus (siteclass/demo): shape, labels, links, HTML, and that it is not trivial."""

from __future__ import annotations

import csv
import re
from collections import Counter
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from siteclass import demo

# Near-duplicate detection usually flags documents at word-shingle Jaccard >= 0.5 (Broder 1997 used ~0.5 for
# "roughly the same"). Two home pages of the same industry must stay well below that: they share topic words
# and the odd stock sentence, not whole texts. The corpus averages about 0.05 and about 0.15 at worst; 0.35
# leaves headroom for regenerating while still failing a template where only the name changes (see the last test).
MAX_SAME_INDUSTRY_JACCARD = 0.35
LAYOUT_MARKERS = {
    "header/main": "<main>",
    "sidebar": 'id="sidebar"',
    "table soup": "<TABLE",
    "article": "<article>",
    "div soup": 'class="menu-item"',
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.title = ""
        self.words: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append(tag)
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        current = self._stack[-1] if self._stack else ""
        if current == "title":
            self.title += data
        elif current not in ("script", "style"):
            self.words += re.findall(r"\w+", data.lower())


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _host(url: str) -> str:
    return urlsplit(url if "://" in url else f"https://{url}").hostname or ""


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, _Page]]:
    return {h: {p: _parse(f) for p, f in demo.site_files(h).items() if f.suffix == ".html"} for h in demo.site_hosts()}


@pytest.fixture(scope="module")
def labels() -> dict[str, str]:
    return {r["id"]: r["label"] for r in _rows(demo.labels_csv())}


def test_sites_and_labels_csv_agree_with_folders(labels: dict[str, str]) -> None:
    sites = _rows(demo.sites_csv())
    assert list(sites[0]) == ["id", "name", "url"]
    assert list(_rows(demo.labels_csv())[0]) == ["id", "url", "label"]
    assert len(sites) >= 60
    ids = [s["id"] for s in sites]
    assert len(set(ids)) == len(ids)
    hosts = {_host(s["url"]) for s in sites}
    assert hosts == set(demo.site_hosts())
    assert {s["id"] for s in sites} == set(labels)
    label_urls = {r["id"]: r["url"] for r in _rows(demo.labels_csv())}
    assert all(label_urls[s["id"]] == s["url"] for s in sites)
    assert any("://" not in s["url"] for s in sites), "some rows should be bare host names"
    assert any(h.startswith("www.") for h in hosts) and any(not h.startswith("www.") for h in hosts)
    assert len({h.rsplit(".", 1)[1] for h in hosts}) >= 6
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", lab) for lab in labels.values())


def test_industries_balanced(labels: dict[str, str]) -> None:
    counts = Counter(labels.values())
    assert sum(1 for n in counts.values() if n >= 4) >= 12, counts


def test_every_site_has_4_to_8_pages_with_titles(parsed: dict[str, dict[str, _Page]]) -> None:
    for host, pages in parsed.items():
        assert 4 <= len(pages) <= 8, (host, sorted(pages))
        assert "/" in pages, host
        for path, page in pages.items():
            assert page.title.strip(), (host, path)
            assert len(page.words) > 30, (host, path)


def test_internal_links_resolve(parsed: dict[str, dict[str, _Page]]) -> None:
    missing_ok = demo.missing_links()
    seen_missing: set[tuple[str, str]] = set()
    external = 0
    for host, pages in parsed.items():
        files = demo.site_files(host)
        home_links = {urlsplit(h).path or "/" for h in pages["/"].links}
        for path, page in pages.items():
            for href in page.links:
                parts = urlsplit(href)
                if parts.scheme and parts.hostname != host:
                    external += 1
                    assert parts.hostname and parts.hostname not in parsed, href
                    continue
                target = parts.path or "/"
                assert target.startswith("/"), (host, path, href)
                if target not in files:
                    assert (host, target) in missing_ok, f"{host}{path} links to missing {href}"
                    seen_missing.add((host, target))
        # the home page reaches every non-private page directly
        for path in pages:
            if not path.startswith("/private/"):
                assert path in home_links, (host, path)
    assert seen_missing == missing_ok, "missing_links.csv lists links that no page has"
    assert external >= 10
    assert any(p.endswith(".pdf") for _h, p in missing_ok)


def test_pdfs_and_robots() -> None:
    pdfs = [f for h in demo.site_hosts() for p, f in demo.site_files(h).items() if p.endswith(".pdf")]
    assert pdfs and all(f.read_bytes().startswith(b"%PDF-") and b"%%EOF" in f.read_bytes() for f in pdfs)
    robots = [h for h in demo.site_hosts() if "/robots.txt" in demo.site_files(h)]
    assert len(robots) >= 3
    for host in robots:
        text = demo.site_files(host)["/robots.txt"].read_text(encoding="utf-8")
        assert "User-agent:" in text and "Disallow:" in text


def test_layout_variety_and_non_ascii() -> None:
    homes = {h: demo.site_files(h)["/"].read_text(encoding="utf-8") for h in demo.site_hosts()}
    for name, marker in LAYOUT_MARKERS.items():
        assert sum(marker in html for html in homes.values()) >= 4, name
    assert sum('name="description"' in html for html in homes.values()) >= 10
    assert sum("<html lang=" in html for html in homes.values()) >= 10
    assert sum(bool(re.search(r"[^\x00-\x7f]", html)) for html in homes.values()) >= 3


def _shingles(words: list[str], k: int = 3) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def test_same_industry_home_pages_are_not_near_duplicates(parsed: dict[str, dict[str, _Page]],
                                                          labels: dict[str, str]) -> None:
    host_label = {_host(r["url"]): r["label"] for r in _rows(demo.labels_csv())}
    by_label: dict[str, list[set[tuple[str, ...]]]] = {}
    for host, pages in parsed.items():
        by_label.setdefault(host_label[host], []).append(_shingles(pages["/"].words))
    worst = 0.0
    for sets in by_label.values():
        for a, b in combinations(sets, 2):
            worst = max(worst, len(a & b) / len(a | b))
    assert worst < MAX_SAME_INDUSTRY_JACCARD, worst


def test_similarity_check_catches_a_name_swap_template(parsed: dict[str, dict[str, _Page]]) -> None:
    """The threshold is meaningful: a copy of a home page with only the business name changed is flagged."""
    host = demo.site_hosts()[0]
    words = parsed[host]["/"].words
    name_words = set(re.findall(r"\w+", next(r["name"] for r in _rows(demo.sites_csv()) if _host(r["url"]) == host).lower()))
    swapped = ["acme" if w in name_words else w for w in words]
    a, b = _shingles(words), _shingles(swapped)
    assert len(a & b) / len(a | b) > MAX_SAME_INDUSTRY_JACCARD


def test_committed_corpus_matches_the_generator(tmp_path: Path) -> None:
    """The files in the package are exactly what ``python -m siteclass.demo._generate`` writes (no hand edits)."""
    from siteclass.demo._generate import generate

    generate(tmp_path)
    names = ["sites.csv", "labels.csv", "missing_links.csv"]
    fresh = {p.relative_to(tmp_path).as_posix(): p for p in (tmp_path / "sites").rglob("*") if p.is_file()}
    committed = {p.relative_to(demo.DEMO_DIR).as_posix(): p for p in demo.SITES_DIR.rglob("*") if p.is_file()}
    assert sorted(fresh) == sorted(committed)
    for rel in [*fresh, *names]:
        assert (tmp_path / rel).read_bytes() == (demo.DEMO_DIR / rel).read_bytes(), rel
