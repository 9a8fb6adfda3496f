"""``[serve] inference = "process"``: the model in a child process (a real one, started by the app)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
import serve_models
from serve_helpers import running

from siteclass.config import Settings
from siteclass.errors import InputError, ModelError
from siteclass.models.base import load_model
from siteclass.records import site_record
from siteclass.serve.app import create_app
from siteclass.serve.batching import MicroBatcher
from siteclass.serve.cpus import thread_affinities
from siteclass.serve.model_process import ModelProcess
from siteclass.serve.state import WARM_UP_RECORD

PAGES = {"name": "Acme", "url": "http://acme-plumbing.example/",
         "pages": [{"url": "http://acme-plumbing.example/", "title": "Acme", "text": "we fix pipes drains and leaks"}]}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from siteclass.models.fasttext import FastTextClassifier

    X, y = serve_models.training_data()
    model = FastTextClassifier(dim=16, epochs=20, buckets=1 << 16, use_char_ngrams=False, lr=0.5, seed=3)
    model.fit(X * 4, y * 4, progress=False)
    path = tmp_path_factory.mktemp("model") / "fasttext"
    model.save(path)
    return path


def process_settings() -> Settings:
    settings = Settings()
    settings.serve.inference = "process"
    return settings


def test_the_model_process_answers_what_the_model_itself_answers(model_dir: Path) -> None:
    model = load_model(model_dir)
    expected = model.predict_top_k([site_record(PAGES["name"], PAGES["url"], PAGES["pages"])], k=5)[0]

    async def go() -> None:
        app = create_app(model_dir, process_settings())
        async with running(app) as client:
            state = app.state.serve
            assert state.process is not None and state.process.pid not in (None, os.getpid())
            answers = await asyncio.gather(*(client.post("/v1/predict/pages", json=PAGES) for _ in range(20)))
            assert {a.status_code for a in answers} == {200}
            for a in answers:
                got = [(i["label"], i["probability"]) for i in a.json()["industries"]]
                assert [g[0] for g in got] == [e[0] for e in expected]
                assert all(abs(g[1] - e[1]) < 1e-9 for g, e in zip(got, expected))
            metrics = (await client.get("/metrics")).text
            assert "siteclass_batch_records_count" in metrics
            pid = state.process.pid
        assert state.process.process is None  # stopped with the app
        with pytest.raises(ProcessLookupError):
            for _ in range(100):  # the child is gone (reaped by stop())
                os.kill(pid, 0)
                time.sleep(0.05)

    asyncio.run(go())


def test_a_killed_model_process_is_replaced_for_the_next_request(model_dir: Path) -> None:
    async def go() -> None:
        app = create_app(model_dir, process_settings())
        async with running(app) as client:
            process = app.state.serve.process
            first = process.pid
            os.kill(first, signal.SIGKILL)
            for _ in range(200):  # the event loop sees the pipe close
                if not process.alive:
                    break
                await asyncio.sleep(0.01)
            r = await client.post("/v1/predict/pages", json=PAGES)
            assert r.status_code == 200 and r.json()["industries"][0]["label"] == "plumbing"
            assert process.restarts == 1 and process.pid != first

    asyncio.run(go())


def test_a_batch_in_flight_when_the_model_process_dies_gets_a_model_error(model_dir: Path) -> None:
    long = {**WARM_UP_RECORD, "pages": [{"url": "", "title": "", "text": "pipes drains leaks bread " * 2000}] * 5}

    async def go() -> None:
        process = ModelProcess(model_dir, 3, WARM_UP_RECORD)
        await process.start()
        try:
            call = asyncio.ensure_future(process.predict([long] * 64))  # well over 100 ms of work
            await asyncio.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
            with pytest.raises(ModelError, match="exited"):
                await call
            top, cpu, wall = await process.predict([WARM_UP_RECORD])  # a new child
            assert len(top) == 1 and len(top[0]) == 3 and cpu >= 0 and wall > 0 and process.restarts == 1
        finally:
            await process.stop()

    asyncio.run(go())


def test_process_mode_needs_a_model_folder(keyword_model) -> None:
    with pytest.raises(InputError, match="model folder"):
        create_app(keyword_model, process_settings())


def test_a_model_the_process_cannot_load_keeps_the_server_unready(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")

    async def go() -> None:
        app = create_app(broken, process_settings())
        async with running(app, wait_ready=False) as client:
            for _ in range(200):
                if app.state.serve.load_error:
                    break
                await asyncio.sleep(0.05)
            r = await client.get("/readyz")
            assert r.status_code == 503 and r.json()["detail"]

    asyncio.run(go())


def test_the_pipelined_batcher_keeps_one_batch_waiting_without_splitting_the_load() -> None:
    """A remote model: at most two batches out; the next one goes out once as many records wait as the batch
    ahead holds (not with the first request), or when nothing is ahead any more; each caller gets its answer."""
    sizes: list[int] = []
    gates: list[asyncio.Event] = []

    async def remote(records):
        sizes.append(len(records))
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        return [[(str(r["i"]), 1.0)] for r in records], 0.0, 0.0

    async def settle() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def go() -> None:
        batcher = MicroBatcher(lambda r: [], max_batch=64, remote=remote, max_inflight=2)
        batcher.start()
        calls = [asyncio.ensure_future(batcher.submit([{"i": i}])) for i in range(8)]
        await settle()
        assert sizes == [8]  # nothing ahead: out at once
        calls += [asyncio.ensure_future(batcher.submit([{"i": i}])) for i in range(8, 11)]
        await settle()
        assert sizes == [8]  # 3 waiting, 8 ahead: keep gathering
        calls += [asyncio.ensure_future(batcher.submit([{"i": i}])) for i in range(11, 16)]
        await settle()
        assert sizes == [8, 8]  # as many as ahead: out, while the first is still computing
        calls += [asyncio.ensure_future(batcher.submit([{"i": i}])) for i in range(16, 20)]
        await settle()
        assert sizes == [8, 8]  # two out: the next waits for a slot
        gates[0].set()
        await settle()
        assert sizes == [8, 8] and all(c.done() for c in calls[:8])  # a slot, but 4 < 8 and one still ahead
        gates[1].set()
        await settle()
        assert sizes == [8, 8, 4]  # nothing ahead any more: out
        gates[2].set()
        results = await asyncio.gather(*calls)
        assert results == [[[(str(i), 1.0)]] for i in range(20)]
        await batcher.stop()

    asyncio.run(go())


def test_auto_picks_where_the_model_runs(model_dir: Path, tmp_path: Path) -> None:
    from siteclass.models.fasttext import FastTextClassifier
    from siteclass.serve.model_process import resolve_inference

    transformer = tmp_path / "transformer"
    transformer.mkdir()
    (transformer / "config.json").write_text('{"model_type": "transformer", "params": {}}')
    assert resolve_inference("auto", model_dir, workers=1) == "process"  # fastText holds the GIL: its own process
    assert resolve_inference("auto", str(model_dir), workers=2) == "inline"  # a process per worker already
    assert resolve_inference("auto", FastTextClassifier(), workers=1) == "inline"  # in memory: no child can load it
    assert resolve_inference("auto", transformer, workers=1) == "thread"  # ONNX Runtime / torch release the GIL
    assert resolve_inference("auto", None, workers=1) == "thread"  # the bundled zero-shot model
    assert resolve_inference("auto", tmp_path / "missing", workers=1) == "thread"  # /readyz reports that one
    for mode in ("thread", "inline", "process"):
        assert resolve_inference(mode, model_dir, workers=1) == mode

    async def go() -> None:  # the default settings serve a fastText folder from a model process
        app = create_app(model_dir, Settings())
        async with running(app) as client:
            assert app.state.serve.inference == "process" and app.state.serve.process is not None
            answer = await client.post("/v1/predict/pages", json=PAGES)
            assert answer.status_code == 200 and answer.json()["industries"]

    asyncio.run(go())


def _affinities(pid: int) -> set[frozenset[int]]:
    """The CPU sets of every thread of process *pid* (a thread that ends meanwhile is left out)."""
    sets = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            sets.add(frozenset(os.sched_getaffinity(int(tid))))
    return sets


def _assert_unchanged(before: dict[int, set[int]]) -> None:
    """Every thread of this process that was there before has its CPU set of before. (Threads differ: earlier
    tests leave ONNX Runtime pool threads, which ORT pins to one CPU each, and such threads come and go.)"""
    now = thread_affinities()
    assert {tid: now[tid] for tid in before.keys() & now.keys()} == {tid: before[tid] for tid in before.keys() & now.keys()}


needs_two_cpus = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                    reason="pinning the model process needs Linux and two CPUs this process may use")


@needs_two_cpus
def test_the_model_process_gets_a_cpu_of_its_own_and_the_http_process_the_others(model_dir: Path) -> None:
    before = thread_affinities()
    cpus = sorted(os.sched_getaffinity(0))
    settings = process_settings()
    settings.serve.model_cpus = 1

    async def go() -> None:
        app = create_app(model_dir, settings)
        async with running(app) as client:
            state = app.state.serve
            assert _affinities(state.process.pid) == {frozenset(cpus[-1:])}  # every thread of the child
            assert _affinities(os.getpid()) == {frozenset(cpus[:-1])}  # every thread of the server
            info = (await client.get("/v1/model")).json()
            assert info["inference"] == "process" and info["model_cpus"] == cpus[-1:]
            os.kill(state.process.pid, signal.SIGKILL)  # a replacement child is pinned too
            for _ in range(200):
                if not state.process.alive:
                    break
                await asyncio.sleep(0.01)
            assert (await client.post("/v1/predict/pages", json=PAGES)).status_code == 200
            assert state.process.restarts == 1 and _affinities(state.process.pid) == {frozenset(cpus[-1:])}
        _assert_unchanged(before)  # put back when the app stops, thread by thread

    asyncio.run(go())


@needs_two_cpus
def test_by_default_both_processes_stay_where_the_kernel_puts_them(model_dir: Path) -> None:
    before = thread_affinities()
    process_cpus = frozenset(os.sched_getaffinity(0))

    async def go() -> None:
        app = create_app(model_dir, process_settings())  # model_cpus 0
        async with running(app) as client:
            assert _affinities(app.state.serve.process.pid) == {process_cpus}
            _assert_unchanged(before)
            assert (await client.get("/v1/model")).json()["model_cpus"] == []

    asyncio.run(go())
