"""Fixtures of the scale tests: real Scrapyd processes on 127.0.0.1 and a LocalWeb of generated sites."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siteclass.config import ScrapydSettings
from siteclass.crawl.localweb import LocalWeb
from siteclass.crawl.scrapyd_api import scrapyd_conf

N_SITES = 36


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScrapydProcess:
    """A real ``scrapyd`` in its own folder, started from a ``siteclass scrapyd-conf`` configuration."""

    def __init__(self, folder: Path, max_proc: int = 2) -> None:
        self.folder = folder
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        conf = ScrapydSettings(http_port=self.port, max_proc=max_proc, queue_poll_s=0.3)
        (folder / "scrapyd.conf").write_text(scrapyd_conf(conf, folder), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScrapydProcess:
        log = (self.folder / "scrapyd.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scrapyd", "--pidfile=", "--logfile", str(self.folder / "twistd.log")],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scrapyd exited: see {self.folder / 'twistd.log'}")
            try:
                if httpx.get(f"{self.url}/daemonstatus.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("scrapyd did not start in 30 s")

    def stop(self) -> None:
        """Stop Scrapyd and the crawl processes it started (its whole process group)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def kill_server_only(self) -> None:
        """Kill the Scrapyd process alone (as a crash would); its running crawls are left to finish."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None


def add_generated_sites(web: LocalWeb, n: int) -> list[str]:
    """*n* small sites ``http://site-NNN.example/`` with a home page linking to /about and /services."""
    hosts = []
    for i in range(n):
        host = f"site-{i:03d}.example"
        home = (
            f"<html><head><title>Company {i}</title></head><body><h1>Company {i}</h1>"
            f"<p>We make widgets number {i} for industrial customers across the region.</p>"
            '<a href="/about">About us</a> <a href="/services">Our services</a></body></html>'
        )
        about = f"<html><head><title>About {i}</title></head><body><p>Founded in {1950 + i}, family owned.</p></body></html>"
        services = f"<html><head><title>Services {i}</title></head><body><p>Widget repair and design {i}.</p></body></html>"
        web.add_site(host, {"/": home, "/about": about, "/services": services})
        hosts.append(host)
    return hosts


def write_sites_csv(path: Path, hosts: list[str], extra: list[tuple[str, str, str]] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "url"])
        for i, host in enumerate(hosts):
            w.writerow([f"s{i:03d}", f"Company {i}", f"http://{host}/"])
        for row in extra or []:
            w.writerow(row)
    return path


@pytest.fixture(scope="session")
def sites_csv() -> Any:
    """``sites_csv(path, hosts, extra_rows)`` writes an id,name,url CSV (ids s000, s001, …)."""
    return write_sites_csv


@pytest.fixture(scope="session")
def unused_port() -> Any:
    return free_port


@pytest.fixture(scope="session")
def web() -> Iterator[LocalWeb]:
    with LocalWeb() as w:
        add_generated_sites(w, N_SITES)
        yield w


@pytest.fixture()
def scrapyd_factory(tmp_path: Path) -> Iterator[object]:
    started: list[ScrapydProcess] = []

    def make(name: str = "scrapyd", max_proc: int = 2) -> ScrapydProcess:
        server = ScrapydProcess(tmp_path / name, max_proc=max_proc).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
