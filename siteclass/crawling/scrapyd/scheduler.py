"""Crawl on one or more Scrapyd servers: chunks, a bounded queue per server, polling, retries, resumable state.

``crawl_on_scrapyd(sites, out, urls, settings)`` is what ``siteclass crawl SITES --out DIR --scrapyd URL,…`` runs:

1. read SITES (invalid rows become ``invalid_input`` rows at once), split the valid ones into chunks of
   ``scrapyd.chunk_size``;
2. upload the siteclass egg to every server (``addversion.json``);
3. keep at most ``max_running + max_pending`` jobs of this crawl on each server, preferring the least busy one
   (Scrapyd has no multi-node queue; this scheduler is it); poll ``listjobs.json`` every ``poll_s``, and sooner
   (down to ``min_poll_s``) when a running job should end (:class:`~siteclass.crawling.scrapyd.poll.PollClock`);
4. a job that ends without a row for each of its sites is retried once (only the missing sites), a job its server
   forgot (restart) is rescheduled; sites still missing become ``unreachable`` rows — never lost;
5. merge every chunk's Parquet into OUT/sites.parquet, pages.parquet, raw.parquet — the layout of a local crawl.

Every change is written to ``OUT/_scrapyd/state.json`` first, so a killed scheduler restarted with the same
arguments picks up its jobs where they are and never crawls a finished chunk again.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siteclass.config import CrawlSettings, ScrapydSettings, Settings
from siteclass.crawling.items import OK
from siteclass.crawling.runner import CrawlResult
from siteclass.crawling.scrapyd.api import Jobs, ScrapydClient, ScrapydError, build_egg
from siteclass.crawling.scrapyd.poll import PollClock
from siteclass.crawling.scrapyd.state import IN_FLIGHT, Chunk, ChunkStore, SiteList, job_settings
from siteclass.errors import InputError, SiteclassError


@dataclass
class Progress:
    chunks_done: int
    chunks_total: int
    sites_done: int
    sites_total: int
    failures: int
    running: int
    pending: int
    servers_down: int

    def line(self) -> str:
        down = f" · {self.servers_down} server(s) unreachable" if self.servers_down else ""
        return (
            f"scrapyd: chunks {self.chunks_done}/{self.chunks_total} · sites {self.sites_done}/{self.sites_total}"
            f" · failures {self.failures} · running {self.running} · queued {self.pending}{down}"
        )


@dataclass
class ScrapydCrawlResult(CrawlResult):
    """A local crawl's result plus the chunk figures of the Scrapyd run."""

    chunks: int = 0
    failed_chunks: int = 0
    resumed: bool = False
    servers: dict[str, int] = field(default_factory=dict)  # chunk attempts per server


@dataclass
class _Server:
    client: ScrapydClient
    deployed: bool = False
    down_since: float | None = None
    jobs: Jobs = field(default_factory=Jobs)


class ScrapydCrawler:
    """Schedules the chunks of one crawl on Scrapyd servers and merges their output."""

    def __init__(
        self,
        urls: list[str],
        project: str,
        chunk_size: int,
        max_running: int,
        max_pending: int,
        poll_s: float,
        min_poll_s: float,
        chunk_retries: int,
        lost_retries: int,
        server_down_s: float,
        http_timeout_s: float,
        keep_chunks: bool,
        crawl: CrawlSettings,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        if not urls:
            raise InputError("no Scrapyd server given; pass --scrapyd http://HOST:6800[,http://HOST2:6800]")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise InputError(f"Scrapyd URL {url!r} must start with http:// or https://")
        self.urls = [u.rstrip("/") for u in urls]
        self.project = project
        self.chunk_size = chunk_size
        self.capacity = max_running + max_pending
        self.poll_s = poll_s
        self.min_poll_s = min_poll_s
        self.chunk_retries = chunk_retries
        self.lost_retries = lost_retries
        self.server_down_s = server_down_s
        self.http_timeout_s = http_timeout_s
        self.keep_chunks = keep_chunks
        self.crawl = crawl
        self.progress = progress
        self._last: Progress | None = None
        self._clock = PollClock(poll_s, min_poll_s)

    @classmethod
    def from_settings(
        cls, settings: Settings, urls: list[str] | None = None, progress: Callable[[Progress], None] | None = None
    ) -> ScrapydCrawler:
        s: ScrapydSettings = settings.scrapyd
        return cls(
            urls=list(urls if urls is not None else s.urls), project=s.project, chunk_size=s.chunk_size,
            max_running=s.max_running, max_pending=s.max_pending, poll_s=s.poll_s, min_poll_s=s.min_poll_s,
            chunk_retries=s.chunk_retries, lost_retries=s.lost_retries, server_down_s=s.server_down_s,
            http_timeout_s=s.http_timeout_s, keep_chunks=s.keep_chunks, crawl=settings.crawl, progress=progress,
        )

    # ----- run -----

    def run(
        self, sites: str | list[dict[str, Any]], out: str, settings: Settings | None = None
    ) -> ScrapydCrawlResult:
        started = time.monotonic()
        site_list = SiteList.read(sites, self.crawl.url_column)
        store = ChunkStore.open(out, site_list, self.chunk_size, self.project, self.crawl)
        resumed = store.resumed
        if not store.merged:
            if not store.finished():
                self._schedule_all(store)
            store.merge(site_list, settings or Settings(crawl=self.crawl), keep_chunks=self.keep_chunks)
        elif not self.keep_chunks:
            store.remove_chunks()  # a run killed while it cleaned up
        summary = store.summary
        statuses = {str(k): int(v) for k, v in summary["statuses"].items()}
        return ScrapydCrawlResult(
            out=out, n_sites=int(summary["sites"]), n_ok=statuses.get(OK, 0),
            n_failed=int(summary["sites"]) - statuses.get(OK, 0), n_pages=int(summary["pages"]),
            elapsed_s=round(time.monotonic() - started, 3), status_counts=statuses,
            n_crawled=int(summary.get("crawled", 0)) if not resumed else 0,
            chunks=len(store.chunks), failed_chunks=int(summary["failed_chunks"]), resumed=resumed,
            servers=dict(Counter(url for c in store.chunks for url in c.servers)),
        )

    def _schedule_all(self, store: ChunkStore) -> None:
        servers = {url: _Server(ScrapydClient(url, self.http_timeout_s)) for url in self.urls}
        try:
            self._check_reachable(servers)
            version, egg = build_egg()
            store.set_version(version)
            job_args = job_settings(self.crawl)
            self._clock = clock = PollClock(self.poll_s, self.min_poll_s)
            while True:
                self._poll(servers, store, version, egg)
                clock.observe([c.job for c in store.chunks if c.state == "running" and c.job], time.monotonic())
                self._move_from_dead(servers, store)
                self._submit(servers, store, job_args)
                store.save()
                self._report(servers, store)
                if store.finished():
                    return
                in_flight = any(c.state in IN_FLIGHT for c in store.chunks)
                time.sleep(clock.wait(time.monotonic(), in_flight))
        finally:
            for server in servers.values():
                server.client.close()

    def _check_reachable(self, servers: dict[str, _Server]) -> None:
        problems = []
        for server in servers.values():
            try:
                server.client.daemon_status()
            except ScrapydError as exc:
                server.down_since = time.monotonic()
                problems.append(str(exc))
        if len(problems) == len(servers):
            raise InputError(
                "cannot reach any Scrapyd server (" + "; ".join(problems) + "); start one "
                "(`siteclass scrapyd-conf > scrapyd.conf && scrapyd`) or fix --scrapyd"
            )

    def _poll(self, servers: dict[str, _Server], store: ChunkStore, version: str, egg: bytes) -> None:
        self._deploy([s for s in servers.values() if not s.deployed], version, egg)
        for url, server in servers.items():
            try:
                if not server.deployed:
                    raise ScrapydError(url, "addversion.json failed", unreachable=True)
                server.jobs = server.client.list_jobs(self.project)
            except ScrapydError as exc:
                if not exc.unreachable:
                    raise InputError(f"Scrapyd at {url} refused the siteclass project: {exc}") from exc
                if server.down_since is None:
                    server.down_since = time.monotonic()
                server.deployed = False  # a restarted or replaced server gets the egg again
                continue
            server.down_since = None
            for chunk in store.in_flight(url):
                self._reconcile(chunk, server.jobs, store)

    def _deploy(self, servers: list[_Server], version: str, egg: bytes) -> None:
        """Upload the egg to *servers* at once (each upload makes Scrapyd list the spiders: seconds)."""
        if not servers:
            return

        def upload(server: _Server) -> None:
            try:
                n = server.client.add_version(self.project, version, egg)
            except ScrapydError as exc:
                if not exc.unreachable:
                    raise InputError(f"Scrapyd at {server.client.url} refused the siteclass egg: {exc}") from exc
                return  # left undeployed: the poll marks it down and tries again next time
            if n < 1:
                raise InputError(f"Scrapyd at {server.client.url} found no spider in the siteclass egg")
            server.deployed = True

        with ThreadPoolExecutor(max_workers=min(len(servers), 16)) as pool:
            for future in [pool.submit(upload, s) for s in servers]:
                future.result()

    def _reconcile(self, chunk: Chunk, jobs: Jobs, store: ChunkStore) -> None:
        state = jobs.state(chunk.job or "")
        if state in ("pending", "running"):
            chunk.state = state
            return
        if state == "finished" and chunk.job in jobs.durations:
            self._clock.learn(jobs.durations[chunk.job])
        missing = store.missing_sites(chunk)
        if not missing:
            store.mark_done(chunk)
        elif state == "finished":
            store.fail(chunk, missing, "job ended without these sites", self.chunk_retries, self.lost_retries)
        else:  # the server no longer knows the job: restarted, or replaced
            store.lose(chunk, missing, "its Scrapyd server lost the job", self.chunk_retries, self.lost_retries)

    def _move_from_dead(self, servers: dict[str, _Server], store: ChunkStore) -> None:
        # chunks on servers not in this run's list (a resumed run given other URLs) go elsewhere
        for chunk in store.in_flight_elsewhere(list(servers)):
            store.lose(chunk, store.missing_sites(chunk), "its Scrapyd server is not in --scrapyd",
                       self.chunk_retries, self.lost_retries)
        now = time.monotonic()
        dead = [u for u, s in servers.items() if s.down_since is not None and now - s.down_since > self.server_down_s]
        if not dead:
            return
        if len(dead) == len(servers):
            raise SiteclassError(
                f"every Scrapyd server has been unreachable for over {self.server_down_s:.0f} s "
                f"({', '.join(dead)}); the scheduler state is saved in {store.state_path} — run the same command "
                "again to resume"
            )
        for url in dead:
            for chunk in store.in_flight(url):
                store.lose(chunk, store.missing_sites(chunk), f"Scrapyd at {url} unreachable",
                           self.chunk_retries, self.lost_retries)

    def _submit(self, servers: dict[str, _Server], store: ChunkStore, job_args: dict[str, str]) -> None:
        load = {url: len(store.in_flight(url)) for url, s in servers.items() if s.down_since is None and s.deployed}
        for chunk in store.to_submit():
            free = [u for u in load if load[u] < self.capacity]
            if not free:
                return
            url = min(free, key=lambda u: (load[u], self.urls.index(u)))
            args = store.prepare_attempt(chunk, url)  # saved before the call: a crash here is recoverable
            try:
                servers[url].client.schedule(self.project, store.version, args, job_args, store.job_id(chunk))
            except ScrapydError as exc:
                store.unsubmit(chunk)
                if not exc.unreachable:
                    raise InputError(f"Scrapyd at {url} refused a job: {exc}") from exc
                servers[url].down_since = servers[url].down_since or time.monotonic()
                load.pop(url)
                continue
            load[url] += 1

    def _report(self, servers: dict[str, _Server], store: ChunkStore) -> None:
        if self.progress is None:
            return
        counts = Counter(c.state for c in store.chunks)
        p = Progress(
            chunks_done=counts["done"] + counts["failed"], chunks_total=len(store.chunks),
            sites_done=store.sites_done(), sites_total=store.sites_total, failures=store.failures(),
            running=counts["running"], pending=counts["pending"] + counts["submitted"],
            servers_down=sum(1 for s in servers.values() if s.down_since is not None),
        )
        if p != self._last:
            self._last = p
            self.progress(p)


def print_progress(p: Progress) -> None:
    print(p.line(), file=sys.stderr, flush=True)


def crawl_on_scrapyd(
    sites: str | Path | list[dict[str, Any]],
    out: str | Path,
    urls: list[str],
    settings: Settings | None = None,
    progress: Callable[[Progress], None] | None = print_progress,
) -> ScrapydCrawlResult:
    """Crawl *sites* (a CSV/Parquet file, or records ``{url, id?, name?}``) on the Scrapyd servers *urls* into
    *out* (a folder or fsspec URL), with the same output as a local crawl. *settings*: ``[crawl]`` is how each
    site is crawled, ``[scrapyd]`` how the chunks are scheduled. *progress* gets a :class:`Progress` on every
    change (None: quiet).

    Rerun with the same arguments after an interruption: finished chunks are kept, running jobs are followed.
    """
    settings = settings or Settings()
    crawler = ScrapydCrawler.from_settings(settings, urls=urls, progress=progress)
    return crawler.run(sites if isinstance(sites, list) else str(sites), str(out), settings)
