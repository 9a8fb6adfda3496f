"""Unit and property tests of the crawl helpers: URLs, ranking, charset decoding, extraction, input reading."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from siteclass.config import CrawlSettings
from siteclass.crawling.extract import decode_html, extract_page
from siteclass.crawling.ranking import LinkRanker
from siteclass.crawling.runner import read_sites, sites_from_records
from siteclass.crawling.urls import canonicalize, normalize_input_url, registered_domain
from siteclass.errors import InputError
from siteclass.records import domain_extension


@pytest.mark.parametrize(("raw", "expected"), [
    ("acme.com", "http://acme.com/"),
    ("  ACME.com/About ", "http://acme.com/About"),
    ("https://www.Acme.co.uk", "https://www.acme.co.uk/"),
    ("http://acme.com:8080/x?a=1#frag", "http://acme.com:8080/x?a=1"),
    ("//acme.com", "http://acme.com/"),
    ("bücher.de", "http://xn--bcher-kva.de/"),
    ("127.0.0.1", "http://127.0.0.1/"),
])
def test_normalize_input_url(raw: str, expected: str) -> None:
    assert normalize_input_url(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "not a url", "ftp://acme.com", "mailto:x@acme.com", "http://", "acme",
                                 "http://acme..com", "http://ac me.com"])
def test_normalize_input_url_rejects(raw: str) -> None:
    with pytest.raises(InputError):
        normalize_input_url(raw)


@pytest.mark.parametrize(("value", "expected"), [
    ("https://www.shop.acme.co.uk/x", "acme.co.uk"),
    ("www.acme.com", "acme.com"),
    ("http://blog.acme.com:8080/", "acme.com"),
    ("http://127.0.0.1:8000/", "127.0.0.1"),
    ("localhost", "localhost"),
])
def test_registered_domain(value: str, expected: str) -> None:
    assert registered_domain(value) == expected


def test_canonicalize_drops_fragment_and_sorts_query() -> None:
    assert canonicalize("http://a.com/p?b=2&a=1#x") == canonicalize("http://a.com/p?a=1&b=2")
    assert "#" not in canonicalize("http://a.com/p#x")


@pytest.mark.parametrize(("domain", "ext"), [("acme.com", "com"), ("acme.co", "co"), ("x.acme.org", "org"),
                                             ("acme.co.uk", "other"), ("acme.de", "other"), ("", "other")])
def test_domain_extension(domain: str, ext: str) -> None:
    assert domain_extension(domain) == ext


@given(hs.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_normalize_is_total(raw: str) -> None:
    try:
        url = normalize_input_url(raw)
    except InputError:
        return
    assert url.startswith(("http://", "https://")) and "#" not in url
    assert normalize_input_url(url) == url  # idempotent


RANKER = LinkRanker.from_settings(CrawlSettings.model_validate({}))


@pytest.mark.parametrize(("url", "text", "rank"), [
    ("http://a.com/about-us", "", 1),
    ("http://a.com/aboutus", "", 1),
    ("http://a.com/x", "Who we are", 1),
    ("http://a.com/what_we_do", "", 2),
    ("http://a.com/p/12", "Our Services", 2),
    ("http://a.com/solutions/", "", 3),
    ("http://a.com/our-team", "", 4),
    ("http://a.com/steamboat", "", 5),
    ("http://a.com/blog/post", "Read more", 5),
])
def test_rank(url: str, text: str, rank: int) -> None:
    assert RANKER.rank(url, text) == rank


def test_rank_words_come_from_settings() -> None:
    ranker = LinkRanker([["menu"], ["about"]])
    assert ranker.rank("http://a.com/menu", "") == 1 and ranker.rank("http://a.com/about", "") == 2
    assert ranker.rank("http://a.com/services", "") == ranker.unmatched_rank == 3


@given(hs.text(max_size=80), hs.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_rank_bounds(path: str, text: str) -> None:
    assert 1 <= RANKER.rank("http://a.com/" + path, text) <= RANKER.unmatched_rank


@pytest.mark.parametrize(("body", "ctype", "expected"), [
    ("Café".encode("cp1252"), "text/html; charset=windows-1252", "Café"),
    ("Café".encode("cp1252"), "text/html; charset=ISO-8859-1", "Café"),
    (b"\xef\xbb\xbfCaf\xc3\xa9", "text/html; charset=windows-1252", "Café"),  # BOM wins
    ("<meta charset='shift_jis'>日本".encode("shift_jis"), None, "<meta charset='shift_jis'>日本"),
    ("Café".encode(), None, "Café"),
    ("Café “x”".encode("cp1252"), "text/html", "Café “x”"),  # not UTF-8: windows-1252
    ("Café".encode(), "text/html; charset=bogus-charset", "Café"),
])
def test_decode_html(body: bytes, ctype: str | None, expected: str) -> None:
    assert decode_html(body, ctype) == expected


@given(hs.binary(max_size=300), hs.one_of(hs.none(), hs.text(max_size=40)))
@settings(max_examples=300, deadline=None)
def test_decode_html_never_raises(body: bytes, ctype: str | None) -> None:
    assert isinstance(decode_html(body, ctype), str)


def test_extract_page() -> None:
    html = """<html lang="de-DE"><head><title> Acme  GmbH </title><base href="/sub/">
    <meta name="Description" content="Pipes"></head><body><nav><a href="about">Über uns</a>
    <a href="mailto:x@y.z">mail</a><a href="javascript:void(0)">js</a><a href="#top">top</a></nav>
    <main><p>Wir reparieren Rohre.</p></main><footer>Impressum</footer></body></html>"""
    page = extract_page(html, "http://acme.de/start")
    assert page.title == "Acme GmbH" and page.meta_description == "Pipes" and page.lang == "de-de"
    assert page.links == [("http://acme.de/sub/about", "Über uns")]
    assert "Wir reparieren Rohre." in page.text and "Impressum" not in page.text and "Über uns" not in page.text


@given(hs.text(max_size=400))
@settings(max_examples=150, deadline=None)
def test_extract_page_never_raises(html: str) -> None:
    page = extract_page(html, "http://a.com/")
    assert isinstance(page.text, str) and all(u.startswith("http") for u, _ in page.links)


def test_extract_page_garbage() -> None:
    for html in ("", "<<<>>>", "<html><body><div><div><p>unclosed", "\x00\x01binary\xff", "<a href='http://[::1'>x</a>"):
        extract_page(html, "http://a.com/")


def test_read_sites_csv(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("URL,Name,id\nacme.com,Acme,a\n,Empty,\nhttps://b.com,B,\nc.com,C,a\n", encoding="utf-8")
    sites = read_sites(path)
    assert [s.site_id for s in sites] == ["a", "2", "3", "a"]
    assert sites[0].url == "http://acme.com/" and sites[0].name == "Acme" and not sites[0].error
    assert "empty url" in sites[1].error
    assert sites[2].url == "https://b.com/" and not sites[2].error
    assert "duplicate id 'a'" in sites[3].error


def test_read_sites_parquet_and_records(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"url": ["acme.com", "bad url"], "id": [7, 8]}), path)
    sites = read_sites(path)
    assert [s.site_id for s in sites] == ["7", "8"] and sites[1].error
    assert [s.site_id for s in sites_from_records([{"url": "a.com"}, {"url": "b.com"}])] == ["1", "2"]


def test_read_sites_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.csv"):
        read_sites(tmp_path / "missing.csv")
    path = tmp_path / "nourl.csv"
    path.write_text("website,name\nacme.com,Acme\n")
    with pytest.raises(InputError, match=r"nourl\.csv has no 'url' column"):
        read_sites(path)


def test_a_sites_file_with_nothing_to_crawl_is_an_input_error(tmp_path: Path) -> None:
    """A sites file with no rows, or no row with a valid URL (a wrong column, most likely): an InputError naming
    the file, so the command exits 2 instead of writing an empty crawl and exiting 0."""
    empty = tmp_path / "empty.csv"
    empty.write_text("url,name\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"sites file .*empty\.csv has no rows"):
        read_sites(empty)
    names = tmp_path / "names.csv"
    names.write_text("url,name\nAcme Plumbing,Acme\n,Empty\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"names\.csv has no row with a valid URL \(2 rows; row 1 of .*names\.csv"):
        read_sites(names)
    names.write_text("url,name\nAcme Plumbing,Acme\nacme.com,Acme\n", encoding="utf-8")
    assert len(read_sites(names)) == 2  # one valid row is enough
    # records passed in code (predict's single URL among them) keep their invalid_input rows
    assert sites_from_records([{"url": "not a url"}])[0].error


def test_crawl_command_exits_2_when_nothing_can_be_crawled(tmp_path: Path) -> None:
    import subprocess
    import sys

    sites = tmp_path / "names.csv"
    sites.write_text("url\nAcme Plumbing\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "siteclass", "crawl", str(sites), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "has no row with a valid URL" in done.stderr and len(done.stderr.strip().splitlines()) == 1
