"""Micro-batching: concurrent requests are gathered into one model call.

Callers ``await batcher.submit(records)``; a single worker task takes the first waiting job, then keeps
gathering jobs for at most ``max_wait_ms`` (or until ``max_batch`` records), runs the model once and hands every
caller its own rows. The model runs in a worker thread (the event loop keeps parsing requests meanwhile, which
pays off when the model releases the GIL: numpy, ONNX Runtime), or ``inline`` in the loop (better for models
whose featurisation is pure Python: no GIL hand-offs between the loop and the model thread).
Jobs whose caller gave up (deadline, disconnect) before the model ran are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
TopK = list[tuple[str, float]]
PredictFn = Callable[[list[Record]], list[TopK]]
Observer = Callable[[int, float], None]


@dataclass
class _Job:
    records: list[Record]
    future: asyncio.Future[list[TopK]] = field(repr=False)


class MicroBatcher:
    def __init__(
        self,
        predict: PredictFn,
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        observe: Observer | None = None,
        inline: bool = False,
    ) -> None:
        self.predict = predict
        self.inline = inline
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.observe = observe
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.calls = 0

    def start(self) -> None:
        """Start the worker in the running loop (again, when called from another loop than last time)."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siteclass-model")
        if self._worker is None or self._loop is not loop or self._worker.done():
            self._queue = asyncio.Queue()
            self._loop = loop
            self._worker = loop.create_task(self._run(), name="siteclass-microbatcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def submit(self, records: Sequence[Record]) -> list[TopK]:
        """Top-k per record, computed in a shared model call."""
        if not records:
            return []
        self.start()  # no-op when the worker runs in this loop already
        future: asyncio.Future[list[TopK]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(records), future))
        return await future

    async def _gather(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        size = len(jobs[0].records)
        # One turn of the loop: requests whose bytes already arrived get parsed and submitted too, so batches grow
        # with the load without any timer (a timer costs latency at low load, and a scheduler slot when busy).
        await asyncio.sleep(0)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            jobs.append(job)
            size += len(job.records)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [j for j in await self._gather() if not j.future.done()]
            if not jobs:
                continue
            records = [r for j in jobs for r in j.records]
            started = time.perf_counter()
            try:
                if self.inline:  # GIL-bound models: no thread ping-pong; requests queue in the sockets meanwhile
                    results = self.predict(records)
                else:
                    if self._executor is None:
                        raise RuntimeError("the micro-batcher was stopped")
                    results = await loop.run_in_executor(self._executor, self.predict, records)
            except Exception as exc:  # the model failed: every caller of this batch gets the error
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - started
            self.calls += 1
            if self.observe is not None:
                self.observe(len(records), elapsed)
            offset = 0
            for j in jobs:
                n = len(j.records)
                if not j.future.done():
                    j.future.set_result(results[offset : offset + n])
                offset += n
