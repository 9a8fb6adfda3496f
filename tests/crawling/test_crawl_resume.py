"""Resume, a killed crawl, S3 output (moto server) and the CLI — real child processes and sockets."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from crawl_helpers import TEST_SETTINGS
from fixtures_web import page

from siteclass.cli import run as cli_run
from siteclass.crawling.pipeline import OutputStore
from siteclass.crawling.runner import crawl
from siteclass.demo.web import LocalWeb, Reply, RequestRecord


def _add_sites(web: LocalWeb, prefix: str, n: int, delay_s: float = 0.0) -> list[str]:
    def slow(title: str) -> object:
        def handler(record: RequestRecord) -> Reply:
            time.sleep(delay_s)
            return Reply(page(title, f"{title} makes fine widgets and gadgets. " * 10,
                              "<a href='/about'>About</a> <a href='/services'>Services</a>"))
        return handler

    hosts = []
    for i in range(n):
        host = f"{prefix}-{i:02d}.com"
        for path in ("/", "/about", "/services"):
            web.add(host, path, slow(f"{host} {path}"))  # type: ignore[arg-type]
        hosts.append(host)
    return hosts


def _slow_page(title: str, links: str, delay_s: float) -> object:
    def handler(record: RequestRecord) -> Reply:
        time.sleep(delay_s)
        return Reply(page(title, f"{title}: welding and fabrication services. " * 10, links))
    return handler


def _homes(web: LocalWeb, hosts: list[str]) -> Counter[str]:
    return Counter(r.host for r in web.requests if r.host in hosts and r.path == "/" and r.method == "GET")


def test_rerun_skips_finished_sites(fixture_web: LocalWeb, tmp_path: Path) -> None:
    hosts = _add_sites(fixture_web, "resume", 4)
    out = tmp_path / "out"
    first = crawl([{"id": f"s{i}", "url": h} for i, h in enumerate(hosts[:2])], out,
                  proxy=fixture_web.proxy_url, progress=False, **TEST_SETTINGS)
    assert first.n_ok == 2 and first.n_crawled == 2
    # the second run adds a slow site (1.5 s a page, 5 pages linked) that runs into its 4 s site deadline
    slow = "deadline-slow.com"
    links = "".join(f"<a href='/p{i}'>Services {i}</a>" for i in range(5))
    for path in ("/", *(f"/p{i}" for i in range(5))):
        fixture_web.add(slow, path, _slow_page(f"Slow {path}", links, 1.5))  # type: ignore[arg-type]
    rows = [{"id": f"s{i}", "url": h} for i, h in enumerate(hosts)] + [{"id": "bad", "url": "::"},
                                                                         {"id": "slow", "url": slow}]
    settings = {**TEST_SETTINGS, "site_timeout_s": 4.0}
    second = crawl(rows, out, proxy=fixture_web.proxy_url, progress=False, **settings)
    assert second.n_crawled == 3
    assert _homes(fixture_web, hosts) == {h: 1 for h in hosts}  # no site fetched twice
    sites = pd.read_parquet(out / "sites.parquet")
    assert list(sites.site_id) == ["s0", "s1", "s2", "s3", "bad", "slow"]
    assert list(sites.status) == ["ok"] * 4 + ["invalid_input", "ok"]
    slow_row = sites.iloc[-1]
    assert 1 <= slow_row.pages < 5 and slow_row.elapsed_s < 4.0 + TEST_SETTINGS["page_timeout_s"] + 2
    assert len([r for r in fixture_web.requests_for(slow) if r.path != "/robots.txt"]) == slow_row.pages
    pages = pd.read_parquet(out / "pages.parquet")
    assert sorted(pages.site_id.unique()) == ["s0", "s1", "s2", "s3", "slow"]
    n_pages = len(pages)
    assert n_pages == 12 + slow_row.pages
    third = crawl(rows, out, proxy=fixture_web.proxy_url, progress=False, **TEST_SETTINGS)  # nothing left
    assert third.n_crawled == 0 and third.n_sites == 6 and len(pd.read_parquet(out / "pages.parquet")) == n_pages


def test_killed_crawl_loses_at_most_the_sites_in_flight(fixture_web: LocalWeb, tmp_path: Path) -> None:
    hosts = _add_sites(fixture_web, "killed", 10, delay_s=0.2)
    sites_csv = tmp_path / "sites.csv"
    sites_csv.write_text("id,url\n" + "".join(f"k{i},{h}\n" for i, h in enumerate(hosts)))
    config = tmp_path / "crawl.toml"
    in_flight = 3
    config.write_text(
        f"[crawl]\nflush_every = 1\nconcurrent_requests = {in_flight}\nautothrottle = false\n"
        "concurrent_per_domain = 1\npage_timeout_s = 5.0\nworkers = 0\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "siteclass", "crawl", str(sites_csv), "--out", str(out), "--proxy",
           fixture_web.proxy_url, "--config", str(config), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = OutputStore(str(out))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if out.joinpath("parts").is_dir() and len(store.finished_site_ids()) >= 4:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the crawl finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # the worker dies with its parent (PR_SET_PDEATHSIG)
    committed = store.finished_site_ids()
    before = _homes(fixture_web, hosts)
    assert 4 <= len(committed) < len(hosts)
    time.sleep(0.5)
    assert _homes(fixture_web, hosts) == before, "the worker kept crawling after its parent was killed"

    result = crawl(sites_csv, out, proxy=fixture_web.proxy_url, progress=False, flush_every=1,
                   concurrent_requests=in_flight, autothrottle=False, concurrent_per_domain=1, workers=0)
    after = _homes(fixture_web, hosts)
    host_of = {f"k{i}": h for i, h in enumerate(hosts)}
    for sid in committed:
        assert after[host_of[sid]] == 1  # finished sites are not fetched again
    refetched = [h for h in hosts if after[h] > 1]
    assert len(refetched) <= in_flight  # lost: only the sites in flight at the kill
    sites = pd.read_parquet(out / "sites.parquet")
    assert sorted(sites.site_id) == sorted(host_of) and set(sites.status) == {"ok"}
    assert result.n_crawled == len(hosts) - len(committed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import boto3
    import fsspec.config
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                       "FSSPEC_S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="crawls")
    try:
        yield endpoint
    finally:
        server.stop()


def test_s3_output_and_resume(fixture_web: LocalWeb, moto_s3: str) -> None:
    import s3fs

    hosts = _add_sites(fixture_web, "s3site", 3)
    rows = [{"id": f"b{i}", "url": h} for i, h in enumerate(hosts)]
    out = "s3://crawls/run1"
    first = crawl(rows[:2], out, proxy=fixture_web.proxy_url, progress=False, **TEST_SETTINGS)
    assert first.n_ok == 2
    second = crawl(rows, out, proxy=fixture_web.proxy_url, progress=False, **TEST_SETTINGS)
    assert second.n_crawled == 1 and second.n_ok == 3
    assert _homes(fixture_web, hosts) == {h: 1 for h in hosts}
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": moto_s3}, skip_instance_cache=True)
    names = {p.rsplit("/", 1)[-1] for p in fs.ls("crawls/run1")}
    assert {"pages.parquet", "raw.parquet", "sites.parquet", "settings.toml"} <= names
    assert fs.ls("crawls/run1/parts") == [] if fs.exists("crawls/run1/parts") else True
    with fs.open("crawls/run1/sites.parquet", "rb") as fh:
        sites = pd.read_parquet(fh)
    assert list(sites.site_id) == ["b0", "b1", "b2"] and set(sites.status) == {"ok"}
    with fs.open("crawls/run1/pages.parquet", "rb") as fh:
        assert len(pd.read_parquet(fh)) == 9


def test_cli_extractor_flag(fixture_web: LocalWeb, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default (fast) extractor reads a long page up to FAST_TEXT_CHARS of text; --extractor exact all of it."""
    from siteclass.config import FAST_TEXT_CHARS

    host = "long-text-site.com"
    body = "</p><p>".join(f"Abschnitt {i}: Rohrleitungsbau, Schweissarbeiten und Montage vor Ort." for i in range(3000))
    fixture_web.add(host, "/", Reply(page("Long", body)))
    sites = tmp_path / "sites.csv"
    sites.write_text(f"id,url\nlong,{host}\n")
    texts = {}
    for extractor in ("fast", "exact", "nope"):
        out = tmp_path / extractor
        args = ["crawl", str(sites), "--out", str(out), "--proxy", fixture_web.proxy_url, "-q", "--workers", "0",
                "--max-pages", "1", *(["--extractor", extractor] if extractor != "fast" else [])]
        if extractor == "nope":
            assert cli_run(args) == 2 and "crawl.extractor" in capsys.readouterr().err
            continue
        assert cli_run(args) == 0
        texts[extractor] = pd.read_parquet(out / "pages.parquet").text.iloc[0]
    assert len(texts["exact"]) > 3 * FAST_TEXT_CHARS and "Abschnitt 2999" in texts["exact"]
    assert FAST_TEXT_CHARS <= len(texts["fast"]) < FAST_TEXT_CHARS + 1_000
    assert texts["exact"].startswith(texts["fast"][:20_000])


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["crawl", "--help"]) == 0
    assert "--max-pages" in capsys.readouterr().out
    assert cli_run(["crawl", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.csv" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("site,name\nacme.com,Acme\n")
    assert cli_run(["crawl", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "no 'url' column" in capsys.readouterr().err
    assert cli_run(["crawl", str(bad), "--out", str(tmp_path / "o"), "--max-pages", "0"]) == 2
