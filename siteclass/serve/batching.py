"""Micro-batching: concurrent requests are gathered into one model call.

Callers ``await batcher.submit(records)``; a single worker task takes what is waiting, then lets the event loop
turn as long as each turn brings more jobs (requests whose bytes already arrived get parsed and submitted), so
batches grow with the load without a timer — nothing waits at low load. ``max_wait_ms`` adds an optional timed
wait for more on top, and ``max_batch`` caps the records per call. The model runs in a worker thread (the event
loop keeps parsing requests meanwhile, which pays off when the model releases the GIL: numpy, ONNX Runtime), or
``inline`` in the loop (better for models whose featurisation is pure Python: no GIL hand-offs between the loop
and the model thread), or in a child process through *remote* (``siteclass.serve.model_process``). Jobs whose
caller gave up (deadline, disconnect) before the model ran are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
TopK = list[tuple[str, float]]
PredictFn = Callable[[list[Record]], list[TopK]]
# (top-k lists, CPU seconds, wall seconds of the model call itself: not the time the batch waited in the pipe)
RemoteFn = Callable[[list[Record]], Awaitable[tuple[list[TopK], float, float]]]
Observer = Callable[[int, float, float], None]  # (records, wall seconds, CPU seconds of the model call)
_MIN_LEAD_S = 0.001  # a paced batch goes out this long, or this share of the batch ahead's time, before it ends
_LEAD_SHARE = 0.2


@dataclass
class _Job:
    records: list[Record]
    future: asyncio.Future[list[TopK]] = field(repr=False)


class MicroBatcher:
    def __init__(
        self,
        predict: PredictFn,
        max_batch: int = 64,
        max_wait_ms: float = 0.0,
        observe: Observer | None = None,
        inline: bool = False,
        remote: RemoteFn | None = None,
        max_inflight: int = 1,
        pace: Callable[[int], float] | None = None,
    ) -> None:
        self.predict = predict
        self.inline = inline
        self.remote = remote
        self.max_inflight = max_inflight
        self.pace = pace
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.observe = observe
        self._pending: deque[_Job] = deque()
        self._pending_records = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.calls = 0

    def start(self) -> None:
        """Start the worker in the running loop (again, when called from another loop than last time)."""
        loop = asyncio.get_running_loop()
        if not self.inline and self.remote is None and self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siteclass-model")
        if self._worker is None or self._loop is not loop or self._worker.done():
            self._pending.clear()
            self._pending_records = 0
            self._wakeup = None
            self._loop = loop
            self._worker = loop.create_task(self._run(), name="siteclass-microbatcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.cancel()
        self._pending_records = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def submit(self, records: Sequence[Record]) -> list[TopK]:
        """Top-k per record, computed in a shared model call."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self.start()
        future: asyncio.Future[list[TopK]] = loop.create_future()
        job = _Job(list(records), future)
        self._pending.append(job)
        self._pending_records += len(job.records)
        self._wake()
        return await future

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _wait(self, loop: asyncio.AbstractEventLoop, until: float | None) -> None:
        """Until a job is submitted (or *until*, on the loop's clock)."""
        self._wakeup = wakeup = loop.create_future()
        timer = loop.call_at(until, self._wake) if until is not None else None
        try:
            await wakeup
        finally:
            self._wakeup = None
            if timer is not None:
                timer.cancel()

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> list[_Job]:
        while not self._pending:
            await self._wait(loop, None)
        # Turn the loop while each turn brings more: requests already read get parsed and submitted. Not for a
        # model in its own process: that one is idle now, and what arrives meanwhile makes the next batch.
        seen = 0 if self.remote is None else len(self._pending)
        while self._pending_records < self.max_batch and len(self._pending) > seen:
            seen = len(self._pending)
            await asyncio.sleep(0)
        if self.max_wait_s > 0:
            until = loop.time() + self.max_wait_s
            while self._pending_records < self.max_batch and loop.time() < until:
                await self._wait(loop, until)
        jobs: list[_Job] = []
        size = 0
        while self._pending and (not jobs or size + len(self._pending[0].records) <= self.max_batch):
            job = self._pending.popleft()
            self._pending_records -= len(job.records)
            if not job.future.done():  # its caller gave up
                jobs.append(job)
                size += len(job.records)
        return jobs

    def _timed(self, records: list[Record]) -> tuple[list[TopK], float]:
        """The model's answer and the CPU time it took (this thread's: other threads and processes excluded)."""
        cpu = time.thread_time()
        return self.predict(records), time.thread_time() - cpu

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        if self.max_inflight == 1:
            while True:
                jobs = await self._gather(loop)
                if jobs:
                    await self._call(jobs)
        # Pipelined (a model in its own process): the next batch goes out while one is computing, so that it
        # waits in the pipe and the model never waits for it. It goes out once as many records are queued as the
        # batch ahead holds, or shortly before that batch is due to end (*pace*: the model's measured seconds for
        # n records), or when it ends — not with the first request to come, which would split the load into
        # small batches.
        slots = asyncio.Semaphore(self.max_inflight)
        running: set[asyncio.Task[None]] = set()
        due, ahead = 0.0, 0  # when the model should be through all it was sent; records in the last batch sent

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            slots.release()
            self._wake()

        try:
            while True:
                await slots.acquire()  # a free slot first: what queues meanwhile joins the next batch
                if running:
                    lead = max(_MIN_LEAD_S, _LEAD_SHARE * (due - loop.time()))
                    until = due - lead if self.pace is not None and due > 0 else None
                    while running and self._pending_records < ahead and (until is None or loop.time() < until):
                        await self._wait(loop, until)
                jobs = await self._gather(loop)
                if not jobs:
                    slots.release()
                    continue
                ahead = sum(len(j.records) for j in jobs)
                expected = self.pace(ahead) if self.pace is not None else 0.0
                due = (max(due, loop.time()) if running else loop.time()) + expected
                task = loop.create_task(self._call(jobs))
                running.add(task)
                task.add_done_callback(finished)
        finally:
            for task in running:
                task.cancel()

    async def _call(self, jobs: list[_Job]) -> None:
        """One model call for *jobs*; each caller gets its slice of the answer (or the model's error)."""
        records = jobs[0].records if len(jobs) == 1 else [r for j in jobs for r in j.records]
        started = time.perf_counter()
        try:
            if self.remote is not None:  # the model's own process (siteclass.serve.model_process)
                results, cpu, wall = await self.remote(records)
            elif self.inline:  # GIL-bound models: no thread ping-pong; requests queue in the sockets meanwhile
                results, cpu = self._timed(records)
            else:
                if self._executor is None:
                    raise RuntimeError("the micro-batcher was stopped")
                loop = asyncio.get_running_loop()
                results, cpu = await loop.run_in_executor(self._executor, self._timed, records)
        except Exception as exc:  # the model failed: every caller of this batch gets the error
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
            return
        elapsed = wall if self.remote is not None else time.perf_counter() - started
        self.calls += 1
        if self.observe is not None:
            self.observe(len(records), elapsed, cpu)
        offset = 0
        for j in jobs:
            n = len(j.records)
            if not j.future.done():
                j.future.set_result(results[offset : offset + n])
            offset += n
