"""Fixtures of the scale tests: real Scrapyd processes on 127.0.0.1 and a LocalWeb of generated sites."""

from __future__ import annotations

import csv
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from siteclass.crawling.scrapyd import LocalScrapyd
from siteclass.demo.web import LocalWeb

N_SITES = 36


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScrapydProcess(LocalScrapyd):
    """A real ``scrapyd`` in its own folder, started from a ``siteclass scrapyd-conf`` configuration."""

    def __init__(self, folder: Path, max_proc: int = 2) -> None:
        super().__init__(folder, max_proc=max_proc, queue_poll_s=0.3)


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
