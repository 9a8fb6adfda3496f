"""The model in a child process: ``[serve] inference = "process"`` (``siteclass serve --inference process``).

Models whose inference is mostly Python (``fasttext`` and ``linear`` tokenise and hash in Python, holding the
GIL) get no overlap from a worker thread: the event loop's HTTP work and the model take turns on one core. In
this mode the server process keeps the HTTP side (parsing, validation, responses, metrics) and one child process
holds the model, so the two run on two cores — the arrangement of model servers with a front end and a model
worker, with one copy of the model doing all the inference (the server process loads the model too, for
``/v1/model`` and the labels, and never predicts with it: the memory of the model is held twice).

The child loads the model from the same source (a model folder, or None for the bundled zero-shot model: an
in-memory model cannot be sent), answers one warm-up record, freezes the garbage collector's view of what it
loaded and reports ready. Then it serves batches over a pipe: the micro-batcher sends a batch (a list of records,
pickled: a private channel between two processes of the same installation; nothing is stored) and the child
answers the top-k lists and the CPU time of the model call. Two batches may be out at once, so that the next one
is already waiting when the child finishes one. The server never blocks on the child:
the event loop watches the pipe. A child that dies (killed, out of memory) fails the batch in flight with a
``ModelError`` (HTTP 500 ``model_error``) and a new child is started for the next batch. The child exits when
the pipe closes, so it never outlives the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import pickle
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from siteclass.bundled import resolve
from siteclass.errors import InputError, ModelError, SiteclassError
from siteclass.models.base import Classifier
from siteclass.models.registry import ModelLike
from siteclass.serve.cpus import pin_process

Record = dict[str, Any]
TopK = list[tuple[str, float]]

# A batch sent while the child computes another waits in the socket buffer (~200 KB on Linux); a larger one is
# written from a thread, so the event loop never blocks on the child.
_INLINE_SEND_BYTES = 128 * 1024


def resolve_inference(mode: str, source: ModelLike, workers: int) -> str:
    """Where the model runs for ``[serve] inference = mode``; ``auto`` asks the model's class: a ``gil_bound`` one
    (fastText, linear: inference mostly Python) gets a child process when it is a folder and the server has one
    worker, else runs inline in the event loop; every other model — ONNX Runtime and torch release the GIL — a
    worker thread."""
    if mode != "auto":
        return mode
    if isinstance(source, Classifier):
        cls: type[Classifier] = type(source)
        folder = False
    elif isinstance(source, (str, Path)):
        from siteclass.models.base import read_config
        from siteclass.models.registry import model_class

        try:
            config = read_config(source)
            cls, folder = model_class(config.get("model_class") or config["model_type"]), True
        except (SiteclassError, OSError):  # loading it reports what is wrong (/readyz); any mode will do meanwhile
            return "thread"
    else:
        return "thread"  # the bundled zero-shot model, or a factory
    if not cls.gil_bound:
        return "thread"
    return "process" if folder and workers == 1 else "inline"


def check_process_source(source: ModelLike) -> None:
    """The child loads the model itself: it needs a folder (or None), not a model object."""
    if source is not None and not isinstance(source, (str, Path)):
        raise InputError(f"inference = 'process' loads the model in a child process and needs a model folder "
                         f"(or none, for the bundled zero-shot model), not {type(source).__name__}: save the "
                         "model and pass its folder, or use inference 'thread' or 'inline'")


def _child_main(conn: Connection, source: str | None, warm_up: Record, top_k: int,
                cpus: list[int] | None) -> None:  # pragma: no cover - the child process
    """The child process: pin itself to *cpus* (``[serve] model_cpus``), load, warm up, then answer batches until
    the pipe closes."""
    try:
        if cpus:
            pin_process(0, cpus)  # every thread so far (numpy's, from the imports); later ones inherit it
        model = resolve(source)
        with contextlib.suppress(Exception):  # a model that cannot score the warm-up record still serves
            model.predict_top_k([warm_up], k=top_k)
        gc.collect()
        gc.freeze()
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            records, k = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        cpu, wall = time.process_time(), time.perf_counter()  # the process's: a model's own threads count too
        try:
            top = model.predict_top_k(records, k=k)
            answer: tuple[str, Any] = ("ok", (top, time.process_time() - cpu, time.perf_counter() - wall))
        except Exception as exc:
            answer = ("error", f"{type(exc).__name__}: {exc}")
        conn.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


class ModelProcess:
    """One model-holding child process, driven from the event loop. Batches may be sent while earlier ones are
    computing: the child takes them in order from the pipe (no idle gap between two batches) and answers in order."""

    def __init__(self, source: str | Path | None, top_k: int, warm_up: Record, start_timeout_s: float = 600.0,
                 cpus: Sequence[int] | None = None) -> None:
        self.source = None if source is None else str(source)
        self.cpus = list(cpus) if cpus else None  # the CPUs the child runs on (None: wherever the kernel puts it)
        self.top_k = top_k
        self.warm_up = warm_up
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._waiters: deque[asyncio.Future[tuple[str, Any]]] = deque()  # one per batch sent, in order
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()  # one sender at a time (a restart, a batch written from a thread)
        self.restarts = 0
        self.seconds_per_record: float | None = None  # the child's model time per record, averaged over batches

    @property
    def pid(self) -> int | None:
        return None if self.process is None else int(self.process.pid)

    @property
    def alive(self) -> bool:
        return self._conn is not None and self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        """Start the child and wait until its model is loaded and warm; ModelError if it cannot load."""
        self._loop = asyncio.get_running_loop()
        # A fresh interpreter (not fork: the server has threads and an event loop; not multiprocessing's spawn,
        # which re-runs the parent's __main__ script), given one end of a socket pair.
        parent, child = socket.socketpair()
        args = [sys.executable, "-m", __name__, str(child.fileno()),
                json.dumps([self.source, self.warm_up, self.top_k, self.cpus])]
        self.process = subprocess.Popen(args, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                                        start_new_session=True)  # Ctrl-C reaches the server, which closes the pipe
        child.close()
        self._conn = Connection(parent.detach())
        self._loop.add_reader(self._conn.fileno(), self._readable)
        try:
            kind, detail = await asyncio.wait_for(self._next_message(), self.start_timeout_s)
        except (TimeoutError, ModelError) as exc:
            await self.stop()
            raise ModelError(f"the model process did not start: {exc or 'timed out'}") from None
        if kind != "ready":
            await self.stop()
            raise ModelError(f"the model process could not load the model: {detail}")

    def _next_message(self) -> asyncio.Future[tuple[str, Any]]:
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def _readable(self) -> None:
        """The pipe has data (an answer) or hit end of file (the child exited)."""
        assert self._conn is not None
        try:
            message = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            self._closed()
            return
        if self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(message)

    def _closed(self) -> None:
        if self._conn is not None and self._loop is not None:
            self._loop.remove_reader(self._conn.fileno())
            self._conn.close()
        self._conn = None
        code = None if self.process is None else self.process.poll()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ModelError(f"the model process exited (exit code {code})"))

    async def predict(self, records: list[Record]) -> tuple[list[TopK], float, float]:
        """Top-k per record from the child, and the CPU and wall seconds of its model call."""
        async with self._lock:
            if not self.alive:
                await self.stop()
                self.restarts += 1
                await self.start()
            assert self._conn is not None
            payload = pickle.dumps((records, self.top_k), protocol=pickle.HIGHEST_PROTOCOL)
            idle = not self._waiters  # the child is waiting in recv: it reads while this writes
            answer = self._next_message()
            try:
                if idle or len(payload) <= _INLINE_SEND_BYTES:
                    self._conn.send_bytes(payload)
                else:
                    await asyncio.to_thread(self._conn.send_bytes, payload)
            except OSError:  # the child is gone (the waiter now holds the error; a new child comes next time)
                self._closed()
        kind, detail = await answer
        if kind == "error":
            raise ModelError(detail)
        top, cpu, wall = detail
        rate = wall / max(1, len(records))
        self.seconds_per_record = rate if self.seconds_per_record is None else 0.8 * self.seconds_per_record + 0.2 * rate
        return top, cpu, wall

    def expected_seconds(self, records: int) -> float:
        """How long the child should take for *records* (its recent time per record; 0 before the first)."""
        return 0.0 if self.seconds_per_record is None else records * self.seconds_per_record

    async def stop(self) -> None:
        if self._conn is not None:
            self._closed()  # closing the pipe ends the child's loop
        if self.process is not None:
            process, self.process = self.process, None
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 5)


if __name__ == "__main__":  # pragma: no cover - the child: python -m siteclass.serve.model_process FD ARGS
    _child_main(Connection(int(sys.argv[1])), *json.loads(sys.argv[2]))
