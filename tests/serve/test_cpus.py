"""``[serve] model_cpus``: how the CPUs are split between the model process and the HTTP process (the pinning of
real processes is tested in ``test_model_process.py``)."""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siteclass.config import Settings, load_settings
from siteclass.errors import InputError
from siteclass.serve.app import create_app
from siteclass.serve.cpus import PinnedServer, plan_cpus


def test_the_model_gets_the_last_cpus_it_may_use_and_the_http_side_the_rest() -> None:
    plan = plan_cpus(1, [0, 1])
    assert plan is not None and plan.model == (1,) and plan.http == (0,)
    plan = plan_cpus(2, [2, 5, 7, 9])  # a container's CPU set: the last ones of those allowed
    assert plan is not None and plan.model == (7, 9) and plan.http == (2, 5)
    assert plan_cpus(0, [0, 1]) is None  # the default: no pinning
    assert plan_cpus(0, []) is None  # nor on a platform that cannot pin


@pytest.mark.parametrize(("wanted", "available", "match"), [
    (2, [0, 1], r"model_cpus = 2.*may use 2 CPUs \(0,1\).*below 2"),
    (1, [4], r"model_cpus = 1.*may use 1 CPUs"),
    (1, [], r"model_cpus = 1.*cannot pin.*Linux"),
])
def test_a_count_that_leaves_the_http_side_no_cpu_is_a_clear_error(wanted: int, available: list[int],
                                                                   match: str) -> None:
    with pytest.raises(InputError, match=match):
        plan_cpus(wanted, available)


@given(st.sets(st.integers(0, 255), min_size=1, max_size=64), st.data())
def test_the_split_covers_the_available_cpus_once(available: set[int], data: st.DataObject) -> None:
    cpus = sorted(available)
    wanted = data.draw(st.integers(0, len(cpus) - 1))
    plan = plan_cpus(wanted, cpus)
    if wanted == 0:
        assert plan is None
        return
    assert plan is not None and len(plan.model) == wanted and plan.http
    assert sorted(plan.model + plan.http) == cpus
    assert max(plan.http) < min(plan.model)


def test_the_setting_is_a_count_of_zero_or_more() -> None:
    assert load_settings(None, {"serve.model_cpus": "2"}).serve.model_cpus == 2
    assert load_settings(None, {}).serve.model_cpus == 0
    for bad in ("-1", "all"):
        with pytest.raises(InputError, match=r"serve\.model_cpus"):
            load_settings(None, {"serve.model_cpus": bad})


def test_model_cpus_without_a_model_process_is_a_clear_error(keyword_model) -> None:
    settings = Settings()
    settings.serve.model_cpus = 1
    settings.serve.inference = "thread"
    with pytest.raises(InputError, match=r"model_cpus = 1 pins the model process.*inference 'thread'"):
        create_app(keyword_model, settings)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="pinning needs Linux and two CPUs this process may use")
def test_release_gives_each_thread_its_own_cpus_back() -> None:
    """A thread a library pinned (ONNX Runtime pins its pool threads) gets its own CPU set back, not the process's."""
    cpus = sorted(os.sched_getaffinity(0))
    started, stop = threading.Event(), threading.Event()
    tids: list[int] = []

    def pinned_worker() -> None:
        tids.append(threading.get_native_id())
        os.sched_setaffinity(0, {cpus[-1]})
        started.set()
        stop.wait(30)

    worker = threading.Thread(target=pinned_worker, daemon=True)
    worker.start()
    started.wait(10)
    try:
        pinned = PinnedServer(plan_cpus(1, cpus))  # type: ignore[arg-type]
        pinned.apply()
        assert os.sched_getaffinity(tids[0]) == set(cpus[:-1])  # every thread on the HTTP side's CPUs
        pinned.release()
        assert os.sched_getaffinity(tids[0]) == {cpus[-1]}
        assert os.sched_getaffinity(0) == set(cpus)
    finally:
        stop.set()
        worker.join(10)
