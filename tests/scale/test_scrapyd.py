"""Crawling through real Scrapyd processes on 127.0.0.1 (fixture sites served by LocalWeb through its proxy)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from siteclass.cli import run as cli_run
from siteclass.cli.scale import crawl_with_scrapyd, parse_scrapyd_urls
from siteclass.config import Settings
from siteclass.crawling.runner import read_sites
from siteclass.crawling.scrapyd import ScrapydCrawlResult, crawl_on_scrapyd
from siteclass.crawling.scrapyd.state import ChunkStore, SiteList
from siteclass.demo.web import LocalWeb
from siteclass.errors import InputError

N_SITES = 36  # = conftest.N_SITES, the sites the session's LocalWeb serves
ROOT = Path(__file__).resolve().parents[2]
EXTRA = [("bad", "Broken row", "not a url"), ("nx", "Nowhere Inc", "http://nowhere.example/")]


def _settings(web: LocalWeb, **scrapyd: Any) -> Settings:
    data = {"chunk_size": 6, "poll_s": 0.4, "max_running": 2, "max_pending": 1, **scrapyd}
    return Settings.model_validate({"crawl": {"proxy": web.proxy_url}, "scrapyd": data})


def _hosts(n: int) -> list[str]:
    return [f"site-{i:03d}.example" for i in range(n)]


def _check_output(out: Path, sites_csv: Path, n_generated: int) -> None:
    """One site row per input row, in input order; right statuses; pages for every ok site."""
    inputs = read_sites(sites_csv)
    sites = pq.read_table(out / "sites.parquet").to_pylist()
    assert [s["site_id"] for s in sites] == [s.site_id for s in inputs]
    by_id = {s["site_id"]: s for s in sites}
    for i in range(n_generated):
        assert by_id[f"s{i:03d}"]["status"] == "ok", by_id[f"s{i:03d}"]
    if "bad" in by_id:
        assert by_id["bad"]["status"] == "invalid_input"
    if "nx" in by_id:
        assert by_id["nx"]["status"] == "dns_error"
    pages = pq.read_table(out / "pages.parquet").to_pylist()
    per_site: dict[str, set[str]] = {}
    for p in pages:
        per_site.setdefault(p["site_id"], set()).add(p["path"])
    for i in range(n_generated):
        assert per_site.get(f"s{i:03d}") == {"/", "/about", "/services"}
    assert len(pages) == len({(p["site_id"], p["url"]) for p in pages}), "a page was merged twice"
    raw = pq.read_table(out / "raw.parquet", columns=["site_id"])
    assert raw.num_rows == len(pages)
    assert (out / "settings.toml").is_file()


def test_scrapyd_conf_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["scrapyd-conf", "--port", "6901", "--max-proc-per-cpu", "3"]) == 0
    conf = capsys.readouterr().out
    assert "bind_address      = 127.0.0.1" in conf
    assert "http_port         = 6901" in conf
    assert "max_proc_per_cpu  = 3" in conf
    assert "scrapyd.jobstorage.SqliteJobStorage" in conf


def test_unreachable_server_is_an_input_error(tmp_path: Path, web: LocalWeb, sites_csv: Any, unused_port: Any) -> None:
    sites = sites_csv(tmp_path / "sites.csv", _hosts(3))
    url = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(InputError, match="cannot reach any Scrapyd server"):
        crawl_on_scrapyd(sites, tmp_path / "out", [url], _settings(web), progress=None)


def test_crawl_command_hands_over_to_scrapyd(
    tmp_path: Path, web: LocalWeb, sites_csv: Any, unused_port: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`siteclass crawl … --scrapyd URL` takes the Scrapyd path: an unreachable server is a clear exit-2 error."""
    sites = sites_csv(tmp_path / "sites.csv", _hosts(2))
    url = f"http://127.0.0.1:{unused_port()}"
    code = cli_run(["crawl", str(sites), "--out", str(tmp_path / "out"), "--scrapyd", url, "--proxy", web.proxy_url])
    assert code == 2
    assert "cannot reach any Scrapyd server" in capsys.readouterr().err


def test_other_sites_in_same_out_are_refused(tmp_path: Path, web: LocalWeb, sites_csv: Any) -> None:
    settings = _settings(web)
    first = sites_csv(tmp_path / "a.csv", _hosts(4))
    ChunkStore.open(str(tmp_path / "out"), SiteList.read(str(first)), 2, "siteclass", settings.crawl)
    other = sites_csv(tmp_path / "b.csv", _hosts(5))
    with pytest.raises(InputError, match="other sites or settings"):
        ChunkStore.open(str(tmp_path / "out"), SiteList.read(str(other)), 2, "siteclass", settings.crawl)


def test_crawl_spread_over_two_servers(
    tmp_path: Path, web: LocalWeb, scrapyd_factory: Any, sites_csv: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = scrapyd_factory("a"), scrapyd_factory("b")
    sites = sites_csv(tmp_path / "sites.csv", _hosts(N_SITES), EXTRA)
    peak = {a.url: 0, b.url: 0}
    stop = threading.Event()

    def watch() -> None:  # jobs of the crawl on each server, as Scrapyd itself lists them
        import httpx

        while not stop.is_set():
            for url in peak:
                try:
                    jobs = httpx.get(f"{url}/listjobs.json", params={"project": "siteclass"}, timeout=5).json()
                except (httpx.HTTPError, ValueError):
                    continue
                if jobs.get("status") == "ok":
                    peak[url] = max(peak[url], len(jobs["pending"]) + len(jobs["running"]))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # what `siteclass crawl SITES --out DIR --scrapyd A,B` runs
    try:
        result = crawl_with_scrapyd(sites, tmp_path / "out", f"{a.url}, {b.url}", _settings(web, chunk_size=8, max_pending=0))
    finally:
        stop.set()
        watcher.join()
    assert all(1 <= n <= 2 for n in peak.values()), peak  # never over max_running 2 + max_pending 0
    assert isinstance(result, ScrapydCrawlResult)
    _check_output(tmp_path / "out", sites, N_SITES)
    assert result.n_sites == N_SITES + 2 and result.n_ok == N_SITES
    assert result.chunks == 5  # 37 valid sites in chunks of 8: one more than the 2 × 2 slots
    assert set(result.servers) == {a.url, b.url}, result.servers  # both servers got chunks
    assert min(result.servers.values()) >= 2
    assert not (tmp_path / "out" / "_chunks").exists()
    err = capsys.readouterr().err
    assert "scrapyd: chunks 0/5" in err and "scrapyd: chunks 5/5 · sites 37/37" in err
    assert f"{N_SITES + 2} sites (ok {N_SITES}" in err
    for host in _hosts(N_SITES):
        assert web.paths_for(host).count("/") >= 1


@pytest.mark.parametrize("value", ["", " , ", "127.0.0.1:6800", "http://a:6800,ftp://b"])
def test_bad_scrapyd_urls_are_input_errors(value: str) -> None:
    with pytest.raises(InputError, match="--scrapyd"):
        parse_scrapyd_urls(value)


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _chunk_states(out: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads((out / "_scrapyd" / "state.json").read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return []


def test_scrapyd_restart_mid_run(tmp_path: Path, web: LocalWeb, scrapyd_factory: Any, sites_csv: Any) -> None:
    server = scrapyd_factory("s", max_proc=2)
    n = 12
    sites = sites_csv(tmp_path / "sites.csv", _hosts(n))
    out = tmp_path / "out"
    box: dict[str, Any] = {}

    def crawl() -> None:
        try:
            records = [{"id": f"s{i:03d}", "name": f"Company {i}", "url": f"http://{h}/"} for i, h in enumerate(_hosts(n))]
            box["result"] = crawl_on_scrapyd(records, out, [server.url], _settings(web), progress=None)
        except BaseException as exc:  # surfaced by the assertion below
            box["error"] = exc

    thread = threading.Thread(target=crawl, daemon=True)
    thread.start()
    _wait_for(lambda: any(c["state"] == "running" for c in _chunk_states(out)), 60, "a running job")
    server.stop()  # Scrapyd and its crawl processes go down mid-run …
    time.sleep(1.0)
    server.start()  # … and come back on the same port with the same SQLite folder
    thread.join(timeout=150)
    assert not thread.is_alive(), "the crawl did not finish after the Scrapyd restart"
    assert "error" not in box, box.get("error")
    result = box["result"]
    _check_output(out, sites, n)
    assert result.n_sites == n
    states = _chunk_states(out)
    assert sum(c["losses"] + c["failures"] for c in states) >= 1  # the restart really cost a job


def _scheduler(sites: Path, out: Path, url: str, settings: Settings) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from siteclass.config import Settings; from siteclass.crawling.scrapyd import crawl_on_scrapyd; "
        "crawl_on_scrapyd(sys.argv[1], sys.argv[2], [sys.argv[3]], Settings.model_validate_json(sys.argv[4]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(sites), str(out), url, settings.model_dump_json()],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_killed_scheduler_resumes_without_recrawling(tmp_path: Path, web: LocalWeb, scrapyd_factory: Any, sites_csv: Any) -> None:
    server = scrapyd_factory("k", max_proc=1)
    n = 12
    hosts = _hosts(n)
    sites = sites_csv(tmp_path / "sites.csv", hosts)
    out = tmp_path / "out"
    settings = _settings(web, max_running=1, max_pending=0)
    web.clear()
    first = _scheduler(sites, out, server.url, settings)
    try:
        _wait_for(lambda: any(c["state"] == "done" for c in _chunk_states(out)), 90, "a finished chunk")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done_before = [c for c in _chunk_states(out) if c["state"] == "done"]
    assert done_before and not (out / "sites.parquet").exists()
    second = _scheduler(sites, out, server.url, settings)
    _, err = second.communicate(timeout=150)
    assert second.returncode == 0, err.decode()[-2000:]
    _check_output(out, sites, n)
    for chunk in done_before:
        for i in range(chunk["start"], chunk["end"]):
            assert web.paths_for(hosts[i]).count("/") == 1, f"{hosts[i]} was crawled again after the restart"
    state = json.loads((out / "_scrapyd" / "state.json").read_text())
    assert state["merged"] is True
    assert [c["attempt"] for c in state["chunks"] if c["id"] in {d["id"] for d in done_before}] == [1] * len(done_before)
    # a third run of the same command finds the crawl merged: nothing is crawled or scheduled again
    requests = len(web.requests)
    again = crawl_on_scrapyd(sites, out, [server.url], settings, progress=None)
    assert again.resumed and again.n_sites == n and again.n_ok == n
    assert len(web.requests) == requests


@pytest.fixture()
def s3_endpoint(monkeypatch: pytest.MonkeyPatch, unused_port: Any) -> Any:
    """A moto S3 server on 127.0.0.1 that fsspec's ``s3://`` URLs point at."""
    import fsspec
    import httpx

    port = unused_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(httpx, endpoint), 30, "moto")
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setitem(fsspec.config.conf, "s3", {"client_kwargs": {"endpoint_url": endpoint}})
        fsspec.filesystem("s3").mkdir("crawls")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait()


def _answers(httpx: Any, url: str) -> bool:
    try:
        httpx.get(url, trust_env=False, timeout=1)
        return True
    except httpx.TransportError:
        return False


def test_state_and_merge_on_s3(tmp_path: Path, sites_csv: Any, s3_endpoint: Any) -> None:
    """The scheduler's files and the merge go through fsspec: a job's parts on S3 merge into one row per input,
    a site no attempt wrote becomes `unreachable`, invalid rows stay `invalid_input`, in input order."""
    from datetime import UTC, datetime

    from siteclass.crawling.items import PageRow, RawRow, SiteResult, SiteRow
    from siteclass.crawling.pipeline import OutputStore

    sites = sites_csv(tmp_path / "sites.csv", _hosts(5), [("bad", "Broken row", "not a url")])
    settings = Settings()
    store = ChunkStore.open("s3://crawls/run", SiteList.read(str(sites)), 2, "siteclass", settings.crawl)
    assert [(c.start, c.end) for c in store.chunks] == [(0, 2), (2, 4), (4, 5)]
    for chunk in store.chunks:
        args = store.prepare_attempt(chunk, "http://127.0.0.1:1")
        assert args["out"].startswith("s3://crawls/run/_chunks/")
        ids = store.chunk_sites(chunk)
        written = ids[:-1] if chunk.id == "c000001" else ids  # this job "died" before its last site
        OutputStore(args["out"]).write_part([
            SiteResult(
                SiteRow(sid, "n", "u", f"http://{sid}/", "ok", "", 1, 0.5),
                [PageRow(sid, "u", f"http://{sid}/", "d", "/", 0, 0, 1, "", "t", "", "en", "text", 200,
                         "text/html", 10, datetime.now(UTC))],
                [RawRow(sid, f"http://{sid}/", "<html></html>")],
            )
            for sid in written
        ])
        missing = store.missing_sites(chunk)
        assert missing == ([ids[-1]] if chunk.id == "c000001" else [])
        if missing:
            store.fail(chunk, missing, "job ended without these sites", retries=0, lost_retries=0)
        else:
            store.mark_done(chunk)
    store.merge(SiteList.read(str(sites)), settings, keep_chunks=False)
    import fsspec

    fs = fsspec.filesystem("s3")  # the moto endpoint (pyarrow's own S3 client would go to AWS)
    table = pq.read_table("crawls/run/sites.parquet", filesystem=fs).to_pylist()
    assert [r["site_id"] for r in table] == ["s000", "s001", "s002", "s003", "s004", "bad"]
    assert [r["status"] for r in table] == ["ok", "ok", "ok", "unreachable", "ok", "invalid_input"]
    assert table[3]["error"].startswith("scrapyd job failed: job ended without these sites")
    assert pq.read_table("crawls/run/pages.parquet", filesystem=fs).num_rows == 4
    assert not fs.exists("crawls/run/_chunks")
    reopened = ChunkStore.open("s3://crawls/run", SiteList.read(str(sites)), 2, "siteclass", settings.crawl)
    assert reopened.merged and reopened.resumed
