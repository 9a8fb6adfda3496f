"""Page processing (decode, text and title, links and their canonical forms) off the reactor thread, in a pool of worker processes.

The reactor only downloads: each HTML response's bytes go to :func:`process_page` in a ``spawn`` process pool
(``[crawl] workers``; 0 runs it inline, in the crawl process). Back-pressure: at most ``max_pending`` pages are
handed to the pool at a time; the callbacks waiting for a slot hold their responses, which Scrapy counts against
``SCRAPER_SLOT_MAX_ACTIVE_SIZE`` and so stops downloading while the pool is behind — memory stays bounded.

A worker process that dies (killed, out of memory) breaks the whole pool: the pool is started again, and every
page that was in it is tried once more, alone, in a one-process retry pool (one page at a time, so a page that
kills its worker again is the one to blame, never the pages beside it). A page whose retry fails too raises
:class:`PageWorkerError`, which the spider records against the page (the site's error when it is the home page).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from siteclass.config import Extractor
from siteclass.crawling.extract import PageContent, decode_html, extract_page
from siteclass.crawling.urls import link_facts

logger = logging.getLogger(__name__)

# Test hook, active only in pool worker processes: a page whose body holds CRASH_MARKER makes its worker exit at
# once when this variable names a file that does not exist yet (created first: the next try succeeds), or on
# every try when it is "always".
CRASH_ENV = "SITECLASS_TEST_CRASH_WORKER"
CRASH_MARKER = b"<!-- siteclass-test: crash the page worker -->"


class PageWorkerError(RuntimeError):
    """A page could not be processed: its worker process died on the first try and on the retry."""


@dataclass
class Processed:
    """``content`` is None when a response without a Content-Type turns out not to be HTML."""

    html: str
    content: PageContent | None
    link_facts: list[tuple[str, str, bool]] | None = None  # urls.link_facts of each of content.links


def process_page(body: bytes, content_type: str, url: str, extractor: Extractor, keep_html: bool) -> Processed:
    """Decode *body* and extract its page content; ``html`` comes back only when *keep_html* (raw.parquet)."""
    _test_crash(body)
    html = decode_html(body, content_type)
    if not content_type and html.lstrip()[:1] != "<":
        return Processed("", None)
    content = extract_page(html, url, extractor)
    facts: dict[str, tuple[str, str, bool]] = {}  # a page links the same URL several times (menus, footers)
    for link, _ in content.links:
        if link not in facts:
            facts[link] = link_facts(link)
    return Processed(html if keep_html else "", content, [facts[link] for link, _ in content.links])


def _test_crash(body: bytes) -> None:
    flag = os.environ.get(CRASH_ENV)
    if not flag or multiprocessing.parent_process() is None or CRASH_MARKER not in body:
        return
    if flag != "always":
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os._exit(70)


def _init_worker() -> None:
    from siteclass.crawling.worker import die_with_parent

    die_with_parent()
    import trafilatura  # noqa: F401  (imported once here, not on the first page)


def _ready() -> None:
    """The task submitted to start each process of a pool."""


def worker_count(workers: int) -> int:
    """``[crawl] workers`` → processes: -1 is one per CPU core, 0 none (inline)."""
    return (os.cpu_count() or 1) if workers < 0 else workers


class PagePool:
    """``await pool.process(...)``: :func:`process_page` in a worker process, restarted when one dies."""

    def __init__(self, processes: int, max_pending: int = 0) -> None:
        if processes < 1:
            raise ValueError(f"a page pool needs at least one process, not {processes}")
        self.processes = processes
        self.max_pending = max_pending or 4 * processes
        self.restarts = 0
        self._slots: asyncio.Semaphore | None = None
        self._retry_lock: asyncio.Lock | None = None
        self._retry_executor: ProcessPoolExecutor | None = None
        self._executor = self._start(processes)

    @staticmethod
    def _start(processes: int) -> ProcessPoolExecutor:
        """A started pool: its processes are spawned now, so their start-up (Python and trafilatura's imports,
        about 0.5 s each) overlaps Scrapy's own instead of delaying the first pages (ProcessPoolExecutor spawns
        on submit, one process per submit while none is idle)."""
        executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker)
        for _ in range(processes):
            executor.submit(_ready)
        return executor

    def _restart(self, broken: ProcessPoolExecutor, reason: BaseException) -> None:
        if broken is not self._executor:
            return  # another page already restarted it
        self.restarts += 1
        logger.error("a page worker process died (%s); restarting the pool (restart %d), its pages are tried again",
                     reason, self.restarts)
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start(self.processes)

    async def process(self, body: bytes, content_type: str, url: str, extractor: Extractor,
                      keep_html: bool) -> Processed:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_pending)
        args = (body, content_type, url, extractor, keep_html)
        async with self._slots:
            executor = self._executor
            try:
                return await asyncio.wrap_future(executor.submit(process_page, *args))
            except BrokenProcessPool as exc:
                self._restart(executor, exc)
            return await self._retry(args, url)

    async def _retry(self, args: tuple[bytes, str, str, Extractor, bool], url: str) -> Processed:
        if self._retry_lock is None:
            self._retry_lock = asyncio.Lock()
        async with self._retry_lock:
            if self._retry_executor is None:
                self._retry_executor = self._start(1)
            try:
                return await asyncio.wrap_future(self._retry_executor.submit(process_page, *args))
            except BrokenProcessPool as exc:
                self._retry_executor.shutdown(wait=False, cancel_futures=True)
                self._retry_executor = None
                logger.error("%s killed its page worker process twice: not stored", url)
                raise PageWorkerError(
                    f"{url} could not be processed: its page worker process died twice ({exc})"
                ) from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._retry_executor is not None:
            self._retry_executor.shutdown(wait=True, cancel_futures=True)
